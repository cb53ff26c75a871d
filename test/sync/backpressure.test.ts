import { describe, expect, it } from 'vitest';
import { createMemoryChannelPair, runSyncSession, type FrameChannel } from '../../src/transport.ts';
import { DEFAULT_WINDOW, MAX_WINDOW } from '../../src/sync/protocol/index.ts';
import { dump, openDevice } from '../helpers/db.ts';
import { addTodos, delay, idOf, sniffer } from './helpers.ts';

/** Counts the sender's batches that the receiver has not acknowledged yet, as they go by. */
function flowMeter(channel: FrameChannel) {
  const meter = { sentBatches: 0, acked: 0, peak: 0 };
  const sent = sniffer();
  const received = sniffer();
  const wrapped: FrameChannel = {
    send: (frame, signal) => {
      const message = sent(frame);
      if (message.type === 'batch') {
        meter.sentBatches = message.batch;
        meter.peak = Math.max(meter.peak, meter.sentBatches - meter.acked);
      }
      return channel.send(frame, signal);
    },
    frames: () => ({
      async *[Symbol.asyncIterator]() {
        for await (const frame of channel.frames()) {
          const message = received(frame);
          if (message.type === 'ack') meter.acked = message.batch;
          yield frame;
        }
      },
    }),
    close: () => channel.close(),
    abort: (reason) => channel.abort(reason),
  };
  return { meter, wrapped };
}

/** A receiver that takes `ms` to read each frame. */
function slowReader(channel: FrameChannel, ms: number): FrameChannel {
  return {
    ...channel,
    send: (frame, signal) => channel.send(frame, signal),
    close: () => channel.close(),
    abort: (reason) => channel.abort(reason),
    frames: () => ({
      async *[Symbol.asyncIterator]() {
        for await (const frame of channel.frames()) {
          await delay(ms);
          yield frame;
        }
      },
    }),
  };
}

describe('backpressure', () => {
  it('keeps at most a window of unacknowledged batches in flight towards a slow receiver, whatever the transport buffers', async () => {
    const a = openDevice('a');
    const b = openDevice('b');
    addTodos(a, 'a', 3000);
    // The transport would queue 10,000 frames: the bound must come from the session itself.
    const [ca, cb] = createMemoryChannelPair({ highWaterMark: 10_000 });
    const { meter, wrapped } = flowMeter(ca);
    const inFlightSeen: number[] = [];
    const [ra, rb] = await Promise.all([
      runSyncSession(a, wrapped, { localDeviceId: idOf(a), batchSize: 50, onProgress: (p) => p.direction === 'send' && inFlightSeen.push(meter.sentBatches - meter.acked) }),
      runSyncSession(b, slowReader(cb, 3), { localDeviceId: idOf(b), batchSize: 50 }),
    ]);
    expect(ra.sent).toBe(3000);
    expect(rb.received).toBe(3000);
    expect(meter.sentBatches).toBeGreaterThanOrEqual(60);
    expect(meter.peak).toBeLessThanOrEqual(DEFAULT_WINDOW);
    expect(Math.max(...inFlightSeen)).toBeLessThanOrEqual(DEFAULT_WINDOW);
    expect(dump(a, 'todos')).toEqual(dump(b, 'todos'));
  });

  it('honours the window the receiver grants in its hello', async () => {
    const a = openDevice('a');
    const b = openDevice('b');
    addTodos(a, 'a', 500);
    const [ca, cb] = createMemoryChannelPair({ highWaterMark: 10_000 });
    const { meter, wrapped } = flowMeter(ca);
    await Promise.all([
      runSyncSession(a, wrapped, { localDeviceId: idOf(a), batchSize: 10 }),
      runSyncSession(b, slowReader(cb, 1), { localDeviceId: idOf(b), batchSize: 10, window: 1 }),
    ]);
    expect(meter.sentBatches).toBeGreaterThanOrEqual(50);
    expect(meter.peak).toBe(1);

    // The meter does see more in flight when the receiver grants more.
    const c = openDevice('c');
    const [cc, cd] = createMemoryChannelPair({ highWaterMark: 10_000 });
    const wide = flowMeter(cc);
    await Promise.all([
      runSyncSession(a, wide.wrapped, { localDeviceId: idOf(a), batchSize: 10 }),
      runSyncSession(c, slowReader(cd, 1), { localDeviceId: idOf(c), batchSize: 10, window: MAX_WINDOW }),
    ]);
    expect(wide.meter.peak).toBeGreaterThan(DEFAULT_WINDOW);
    expect(wide.meter.peak).toBeLessThanOrEqual(MAX_WINDOW);
  });

  it('reports progress with a total in both directions', async () => {
    const a = openDevice('a');
    const b = openDevice('b');
    addTodos(a, 'a', 1000);
    const sends: { entries: number; total: number | undefined }[] = [];
    const receives: { entries: number; total: number | undefined }[] = [];
    const [ca, cb] = createMemoryChannelPair();
    await Promise.all([
      runSyncSession(a, ca, { localDeviceId: idOf(a), batchSize: 100, onProgress: (p) => p.direction === 'send' && sends.push({ entries: p.entries, total: p.totalEntries }) }),
      runSyncSession(b, cb, { localDeviceId: idOf(b), batchSize: 100, onProgress: (p) => p.direction === 'receive' && receives.push({ entries: p.entries, total: p.totalEntries }) }),
    ]);
    expect(sends.map((s) => s.entries)).toEqual([100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
    expect(sends.every((s) => s.total === 1000)).toBe(true);
    expect(receives.map((s) => s.entries)).toEqual([100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
    expect(receives.every((s) => s.total === 1000)).toBe(true);
  });
});
