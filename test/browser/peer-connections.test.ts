// The page's side of WebRTC for the database worker (src/browser/peer-connections.ts), driven in
// Chromium with the requests the worker's shim sends, and with requests it never sends: each is
// checked before it reaches the browser's WebRTC, and bounded.
import { describe, expect, it } from 'vitest';
import { MAX_PEER_CONNECTIONS } from '../../src/sync/web/rtc-messages.ts';
import { fixtureInChromium } from './chromium-fixture.ts';
import { callPage as call, chromiumMissing, openFixturePage } from './harness.ts';

/** How long a request that gets no answer is waited for before the next is sent. */
const DROPPED_WAIT_MS = 100;
/** How long answers are collected after the last request (10x what they take on a quiet machine). */
const SETTLE_MS = 3_000;

interface Event {
  kind: string;
  pc: number;
  call?: number;
  ok?: boolean;
  value?: { type?: string; sdp?: string } | null;
  error?: { name: string; message: string };
  connectionState?: string;
  channel?: number;
  dc?: { label: string; readyState: string };
}

describe.skipIf(chromiumMissing !== undefined)("the page holds its worker's peer connections", () => {
  const chromium = fixtureInChromium();

  it('opens a connection, answers its calls, and transfers a channel it creates to the port', { timeout: 120_000 }, async () => {
    const context = await chromium.newContext();
    const page = await openFixturePage(context, chromium.origin());
    const events = await call<Event[]>(
      page,
      'rtcRequests',
      [
        { kind: 'open', pc: 1, iceServers: [] },
        { kind: 'channel', pc: 1, channel: 1, label: 'init', init: { ordered: true } },
        { kind: 'call', pc: 1, call: 1, method: 'createOffer' },
      ],
      DROPPED_WAIT_MS,
      SETTLE_MS,
    );
    await context.close();
    expect(events.find((e) => e.kind === 'channel')).toEqual({ kind: 'channel', pc: 1, channel: 1, dc: { label: 'init', readyState: 'connecting' } });
    const offer = events.find((e) => e.kind === 'reply');
    expect(offer).toMatchObject({ pc: 1, call: 1, ok: true, value: { type: 'offer' } });
    expect(offer?.value?.sdp).toContain('m=application');
  });

  it('refuses requests out of bounds: unknown kinds and methods, long SDPs and TURN credentials, bad channel options, too many connections', { timeout: 120_000 }, async () => {
    const context = await chromium.newContext();
    const page = await openFixturePage(context, chromium.origin());
    const tooLong = 'x'.repeat(64 * 1024 + 1);
    const events = await call<Event[]>(
      page,
      'rtcRequests',
      [
        { kind: 'eval', pc: 1 },
        { kind: 'open', pc: -1, iceServers: [] },
        { kind: 'open', pc: 1, iceServers: Array.from({ length: 17 }, () => ({ urls: 'stun:127.0.0.1' })) },
        // pc 1 was never opened: its call is answered with an error, not run.
        { kind: 'call', pc: 1, call: 1, method: 'createOffer' },
        { kind: 'open', pc: 2, iceServers: [] },
        { kind: 'call', pc: 2, call: 2, method: 'close' },
        { kind: 'call', pc: 2, call: 3, method: 'setRemoteDescription', arg: { type: 'offer', sdp: tooLong } },
        { kind: 'call', pc: 2, call: 4, method: 'setRemoteDescription', arg: { type: 'nonsense', sdp: 'v=0' } },
        { kind: 'call', pc: 2, call: 5, method: 'addIceCandidate', arg: { candidate: tooLong } },
        { kind: 'channel', pc: 2, channel: 1, label: 'l'.repeat(257), init: {} },
        { kind: 'channel', pc: 2, channel: 2, label: '', init: { id: 70_000 } },
        // A TURN username or credential past its bound: the connection is not opened.
        { kind: 'open', pc: 3, iceServers: [{ urls: 'turn:127.0.0.1', username: 'u', credential: 'c'.repeat(1025) }] },
        { kind: 'call', pc: 3, call: 6, method: 'createOffer' },
        ...Array.from({ length: MAX_PEER_CONNECTIONS }, (_, i) => ({ kind: 'open', pc: 100 + i, iceServers: [] })),
      ],
      DROPPED_WAIT_MS,
      SETTLE_MS,
    );
    await context.close();
    const replies = events.filter((e) => e.kind === 'reply');
    expect(replies.map((e) => [e.call, e.ok, e.error?.name, e.error?.message])).toEqual([
      [1, false, 'Error', 'no such peer connection'],
      [3, false, 'TypeError', 'a session description needs an SDP string'],
      [4, false, 'TypeError', 'a session description needs a known type'],
      [5, false, 'TypeError', 'an ICE candidate needs a candidate string'],
      [6, false, 'Error', 'no such peer connection'],
    ]);
    expect(events.filter((e) => e.kind === 'channel')).toEqual([]);
    // pc 2 and 63 more fill the page's 64; the 64th of the last batch is refused.
    expect(events.filter((e) => e.kind === 'state')).toEqual([{ kind: 'state', pc: 100 + MAX_PEER_CONNECTIONS - 1, connectionState: 'failed' }]);
  });
});
