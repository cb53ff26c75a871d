// The worker's stand-in RTCPeerConnection (src/sync/web/rtc-shim.ts), driven on Node over a
// MessageChannel in place of the page: a connection the page reports closed is still released
// when libp2p closes it (its slot freed, the page told, its pending calls rejected).
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
// Promise.withResolvers, which the shim's channels use, on Node 20.
import '../../src/sync/node/polyfill.ts';
import { installPageRtc, PagePeerConnection } from '../../src/sync/web/rtc-shim.ts';

function collect(port: MessagePort): Record<string, unknown>[] {
  const heard: Record<string, unknown>[] = [];
  port.on('message', (message: Record<string, unknown>) => heard.push(message));
  return heard;
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('the worker-side peer connection', () => {
  const { port1, port2 } = new MessageChannel();
  installPageRtc(port1 as unknown as Parameters<typeof installPageRtc>[0]);
  const page = collect(port2);
  afterAll(() => {
    port1.close();
    port2.close();
  });

  it('closes and releases a connection the page already reported closed', async () => {
    const connection = new PagePeerConnection();
    await until(() => page.some((m) => m['kind'] === 'open'), 'the open request');
    const id = page.find((m) => m['kind'] === 'open')!['pc'];
    const offer = connection.createOffer();
    const outcome = offer.then(() => 'resolved', (error: Error) => error.name);
    await until(() => page.some((m) => m['kind'] === 'call'), 'the call request');
    // The page's connection failed and closed on its own; then libp2p closes its side.
    port2.postMessage({ kind: 'state', pc: id, connectionState: 'closed' });
    await until(() => connection.connectionState === 'closed', 'the closed state');
    connection.close();
    await until(() => page.some((m) => m['kind'] === 'close' && m['pc'] === id), 'the close request to reach the page');
    expect(await Promise.race([outcome, new Promise((resolve) => setTimeout(() => resolve('still pending'), 2_000))])).toBe('InvalidStateError');
  });
});
