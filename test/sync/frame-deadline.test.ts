/**
 * The time a peer may take over a frame it began (src/sync/session/frame-clock.ts): a base time
 * plus its bytes at a minimum rate, counted only while we wait for the peer. Over a scripted byte
 * stream with small timings; test/sync/node-frame-timeout.test.ts runs the defaults over libp2p.
 */
import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createFramedChannel, FrameTimeoutError, type ByteChannel } from '../../src/transport.ts';
import { encodeFrame, encodeFramePrefix } from '../../src/sync/protocol/index.ts';

/** A byte stream whose incoming chunks the test pushes when it likes; records an abort. */
function scriptedBytes(): { channel: ByteChannel; push(bytes: Uint8Array): void; end(): void; aborted: () => Error | undefined } {
  const queue: Uint8Array[] = [];
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  return {
    channel: {
      write: async () => {},
      async *read() {
        for (;;) {
          const chunk = queue.shift();
          if (chunk !== undefined) {
            yield chunk;
            continue;
          }
          if (failure) throw failure;
          if (ended) return;
          await new Promise<void>((resolve) => (wake = resolve));
        }
      },
      close: async () => {},
      abort: (reason) => {
        failure ??= reason;
        notify();
      },
    },
    push: (bytes) => {
      queue.push(bytes);
      notify();
    },
    end: () => {
      ended = true;
      notify();
    },
    aborted: () => failure,
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Reads every frame; resolves with them, or with the error that ended the reading and when. */
async function readAll(frames: AsyncIterable<Uint8Array>): Promise<{ frames: Uint8Array[]; error?: unknown; at: number }> {
  const got: Uint8Array[] = [];
  try {
    for await (const frame of frames) got.push(frame);
    return { frames: got, at: performance.now() };
  } catch (error) {
    return { frames: got, error, at: performance.now() };
  }
}

/** Pushes `bytes` in pieces of `chunk` bytes every `everyMs`, until done or `stop()` is true. */
async function dribble(push: (b: Uint8Array) => void, bytes: Uint8Array, chunk: number, everyMs: number, stop: () => boolean): Promise<number> {
  let sent = 0;
  while (sent < bytes.byteLength && !stop()) {
    push(bytes.subarray(sent, sent + chunk));
    sent = Math.min(bytes.byteLength, sent + chunk);
    await sleep(everyMs);
  }
  return sent;
}

describe('frame deadline', () => {
  it('cuts a frame dribbled a byte at a time after about the base time, and a frame before it passes', async () => {
    const bytes = scriptedBytes();
    const channel = createFramedChannel(bytes.channel, { frameBaseTimeoutMs: 400, frameMinBytesPerSecond: 16 * 1024 });
    let done = false;
    const reading = readAll(channel.frames()).finally(() => (done = true));
    bytes.push(encodeFrame(new Uint8Array(50).fill(1)));
    const started = performance.now();
    const sent = await dribble(bytes.push, encodeFrame(new Uint8Array(300).fill(2)), 1, 50, () => done);
    const result = await reading;
    const took = result.at - started;
    expect(result.frames.map((f) => f.byteLength)).toEqual([50]);
    expect(result.error).toBeInstanceOf(FrameTimeoutError);
    expect(result.error).toMatchObject({ name: 'FrameTimeoutError', code: 'PROTOCOL_TIMEOUT', announcedBytes: 300 });
    // 400 ms plus the few bytes' worth at 16 KiB/s (under 1 ms), plus timer slack.
    expect(took).toBeGreaterThanOrEqual(390);
    expect(took).toBeLessThan(900);
    expect(sent).toBeLessThan(20);
    expect((result.error as FrameTimeoutError).receivedBytes).toBeGreaterThan(2);
  });

  it('cuts a length prefix that never completes', async () => {
    const bytes = scriptedBytes();
    const channel = createFramedChannel(bytes.channel, { frameBaseTimeoutMs: 300 });
    const started = performance.now();
    const reading = readAll(channel.frames());
    // 0x80 0x80 0x80: a continuation byte at a time, never the last one (a fourth would be malformed).
    bytes.push(new Uint8Array([0x80]));
    await sleep(100);
    bytes.push(new Uint8Array([0x80]));
    await sleep(100);
    bytes.push(new Uint8Array([0x80]));
    const result = await reading;
    expect(result.error).toMatchObject({ code: 'PROTOCOL_TIMEOUT', receivedBytes: 3, announcedBytes: undefined });
    expect(result.at - started).toBeGreaterThanOrEqual(290);
    expect(result.at - started).toBeLessThan(800);
  });

  it('passes a large frame that arrives slowly but above the minimum rate, and cuts the same frame below it', async () => {
    const payload = new Uint8Array(192 * 1024).map((_, i) => i % 251);
    const timing = { frameBaseTimeoutMs: 200, frameMinBytesPerSecond: 64 * 1024 };

    // About 128 KiB/s: 8 KiB every 62 ms, 1.5 s in all, while the frame alone at the minimum rate
    // with no base would be 3 s: the bound (3.2 s) is not what lets it through, the rate is.
    const fast = scriptedBytes();
    const fastReading = readAll(createFramedChannel(fast.channel, timing).frames());
    const started = performance.now();
    await dribble(fast.push, encodeFrame(payload), 8 * 1024, 62, () => false);
    fast.end();
    const passed = await fastReading;
    expect(passed.error).toBeUndefined();
    expect(passed.frames).toHaveLength(1);
    expect(Buffer.from(passed.frames[0]!).equals(Buffer.from(payload))).toBe(true);
    expect(passed.at - started).toBeGreaterThan(1000);

    // About 32 KiB/s: the base is spent once 12.8 KiB have come at half the rate, well before the end.
    const slow = scriptedBytes();
    let done = false;
    const slowReading = readAll(createFramedChannel(slow.channel, timing).frames()).finally(() => (done = true));
    const sent = await dribble(slow.push, encodeFrame(payload), 2 * 1024, 62, () => done);
    const cut = await slowReading;
    expect(cut.error).toMatchObject({ code: 'PROTOCOL_TIMEOUT', announcedBytes: payload.byteLength });
    expect(sent).toBeLessThan(payload.byteLength / 4);
  });

  it('does not count the time the reader itself takes between frames', async () => {
    const bytes = scriptedBytes();
    const channel = createFramedChannel(bytes.channel, { frameBaseTimeoutMs: 200 });
    const first = encodeFrame(new Uint8Array(10).fill(1));
    const second = encodeFrame(new Uint8Array(1000).fill(2));
    // The first frame and the start of the second in one chunk, the rest at once after it: only
    // a reader that takes a second over the first frame stands between them.
    const chunk = new Uint8Array(first.byteLength + 100);
    chunk.set(first);
    chunk.set(second.subarray(0, 100), first.byteLength);
    bytes.push(chunk);
    bytes.push(second.subarray(100));
    bytes.end();
    const got: number[] = [];
    for await (const frame of channel.frames()) {
      got.push(frame.byteLength);
      if (got.length === 1) await sleep(1000);
    }
    expect(got).toEqual([10, 1000]);
  });

  it('reads bytes that arrived while the event loop was blocked before it judges the frame late', async () => {
    // A real socket on 127.0.0.1: its bytes come in the event loop's I/O phase, after the timers.
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const accepted = once(server, 'connection') as Promise<[Socket]>;
    const writer = connect((server.address() as { port: number }).port, '127.0.0.1');
    await once(writer, 'connect');
    const [reader] = await accepted;
    try {
      const bytes: ByteChannel = {
        write: async () => {},
        read: () => reader as AsyncIterable<Uint8Array>,
        close: async () => {},
        abort: (reason) => reader.destroy(reason),
      };
      const reading = readAll(createFramedChannel(bytes, { frameBaseTimeoutMs: 300 }).frames());
      const frame = encodeFrame(new Uint8Array(1000).fill(9));
      writer.write(frame.subarray(0, 10));
      await sleep(250);
      // The rest goes out now, then this process is busy past the frame's deadline (300 ms): when
      // it is free again the deadline's timer runs before the socket is read.
      writer.write(frame.subarray(10));
      const until = performance.now() + 400;
      while (performance.now() < until);
      await sleep(50);
      writer.end();
      const result = await reading;
      expect(result.error).toBeUndefined();
      expect(result.frames.map((f) => f.byteLength)).toEqual([1000]);
    } finally {
      writer.destroy();
      reader.destroy();
      server.close();
    }
  });

  it('refuses timings that are not positive finite numbers', () => {
    const bytes = scriptedBytes();
    expect(() => createFramedChannel(bytes.channel, { frameBaseTimeoutMs: 0 })).toThrow(RangeError);
    expect(() => createFramedChannel(bytes.channel, { frameMinBytesPerSecond: Number.NaN })).toThrow(RangeError);
    expect(() => createFramedChannel(bytes.channel, { frameBaseTimeoutMs: Number.POSITIVE_INFINITY })).toThrow(RangeError);
  });

  it('leaves a stream that is silent between frames alone', async () => {
    const bytes = scriptedBytes();
    const reading = readAll(createFramedChannel(bytes.channel, { frameBaseTimeoutMs: 100 }).frames());
    bytes.push(encodeFrame(new Uint8Array([1])));
    await sleep(400);
    bytes.push(encodeFramePrefix(2));
    bytes.push(new Uint8Array([2, 3]));
    bytes.end();
    const result = await reading;
    expect(result.error).toBeUndefined();
    expect(result.frames.map((f) => [...f])).toEqual([[1], [2, 3]]);
  });
});
