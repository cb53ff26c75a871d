/**
 * Reconnecting: a lost connection to a known device is dialled again with backoff, and the
 * backoff itself grows, caps, and is cancelled by clear().
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BackoffTimers } from '../../src/sync/node/backoff.ts';
import { createSyncNode, type P2PConfig, type SyncNode } from '../../src/sync/node/index.ts';
import { SYNC_PROTOCOL } from '../../src/sync/protocol/constants.ts';
import { todos } from '../helpers/schema.ts';
import { waitFor } from '../net/fixtures.ts';
import { pairedDevices } from './helpers.ts';

const nodes: SyncNode[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

/** Two paired devices' nodes on 127.0.0.1, B dialled A, after their first catch-up. */
async function syncedPair(config: P2PConfig) {
  const [a, b] = await pairedDevices();
  const na = await createSyncNode(a, { listenAddresses: ['/ip4/127.0.0.1/tcp/0'], ...config });
  const nb = await createSyncNode(b, { listenAddresses: ['/ip4/127.0.0.1/tcp/0'], ...config });
  nodes.push(na, nb);
  const first = nb.once('sync:complete');
  await nb.dial(na.getMultiaddrs()[0]!);
  await first;
  return { a, b, na, nb };
}

describe('reconnect', () => {
  it('dials a known device again after the connection drops, and syncs what was written meanwhile', async () => {
    const { a, b, na, nb } = await syncedPair({ reconnectInitialDelayMs: 50 });

    const reconnected = na.once('peer:connect', { filter: (e) => e.peerId === nb.peerId, signal: AbortSignal.timeout(10_000) });
    await na.libp2p.hangUp(nb.libp2p.peerId);
    a.insert(todos).values({ id: 'meanwhile', title: 'written while apart' }).run();
    await reconnected;
    await waitFor(() => b.$connection.prepare("SELECT count(*) FROM todos WHERE id = 'meanwhile'").value() === 1n, 10_000, 'the row written while apart');
  });

  it('opens a session on a connection that came while the previous session was still winding down', async () => {
    // Reconnecting is left to the test: it dials again at once, racing the old session's end.
    const { a, b, na, nb } = await syncedPair({ reconnect: false });
    for (let round = 0; round < 8; round++) {
      // B hangs up and dials again at once: A sees the old connection close and the new one open
      // while its session over the old one may still be saying goodbye.
      await nb.libp2p.hangUp(na.libp2p.peerId);
      // libp2p refuses more than 5 inbound connections a second from one host: pace the rounds.
      await new Promise((resolve) => setTimeout(resolve, 250));
      await nb.dial(na.getMultiaddrs()[0]!);
      a.insert(todos).values({ id: `round-${round}`, title: 'after a quick reconnect' }).run();
      await waitFor(() => b.$connection.prepare('SELECT count(*) FROM todos WHERE id = ?').value(`round-${round}`) === 1n, 10_000, `round ${round}'s row`);
    }
  });

  it('a sync stream reset under a session is logged as cut, not an error, and the next session finishes the catch-up', async () => {
    const [a, b] = await pairedDevices();
    for (let i = 0; i < 3000; i++) a.insert(todos).values({ id: `bulk-${i}`, title: 'before the cut' }).run();
    const logs: string[] = [];
    const errors: string[] = [];
    const config: P2PConfig = { listenAddresses: ['/ip4/127.0.0.1/tcp/0'], batchSize: 50, reconnectInitialDelayMs: 50, log: (line) => logs.push(line) };
    const na = await createSyncNode(a, config);
    const nb = await createSyncNode(b, config);
    nodes.push(na, nb);
    for (const node of [na, nb]) node.on('error', (event) => errors.push(`${event.peerId}: ${event.error.message}`));
    const moving = nb.once('sync:progress', { filter: (e) => e.direction === 'receive' && e.entries >= 200, signal: AbortSignal.timeout(10_000) });
    await nb.dial(na.getMultiaddrs()[0]!);
    await moving;
    // Only the stream goes, not the connection: no peer:disconnect explains it.
    const streams = na.libp2p.getConnections(nb.libp2p.peerId).flatMap((c) => c.streams).filter((s) => s.protocol === SYNC_PROTOCOL);
    expect(streams.length).toBe(1);
    streams[0]!.abort(new Error('the stream is reset on purpose'));
    await waitFor(() => b.$connection.prepare("SELECT count(*) FROM todos WHERE id LIKE 'bulk-%'").value() === 3000n, 20_000, 'all 3000 rows on B');
    expect(errors).toEqual([]);
    expect(logs.filter((line) => / cut: the stream broke: /.test(line)).length).toBeGreaterThan(0);
    expect(na.libp2p.getConnections(nb.libp2p.peerId).length).toBeGreaterThan(0);
  });

  it('backs off exponentially up to the cap, and clear() cancels what is pending', () => {
    vi.useFakeTimers();
    const timers = new BackoffTimers({ initialDelayMs: 100, maxDelayMs: 1_000, random: () => 0.5 });
    const delays: (number | undefined)[] = [];
    let runs = 0;
    for (let i = 0; i < 6; i++) {
      delays.push(timers.schedule('peer', () => runs++));
      vi.runOnlyPendingTimers();
    }
    expect(delays).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    expect(runs).toBe(6);
    timers.reset('peer');
    expect(timers.schedule('peer', () => runs++)).toBe(100);
    expect(timers.schedule('peer', () => runs++)).toBeUndefined(); // one pending retry per key
    timers.clear();
    expect(timers.pending).toBe(0);
    expect(timers.schedule('other', () => runs++)).toBeUndefined(); // closed for good
    vi.runAllTimers();
    expect(runs).toBe(6);
  });
});
