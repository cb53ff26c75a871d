import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createFramedChannel, createMemoryChannelPair, runSyncSession, type ByteChannel, type FrameChannel } from '../../src/transport.ts';
import { dump, openDevice } from '../helpers/db.ts';
import { addTodos, idOf } from './helpers.ts';

/** Two connected byte channels that cut what they carry into pieces of 1 to 97 bytes, as TCP may. */
function choppyBytePipe(): [ByteChannel, ByteChannel] {
  const [x, y] = createMemoryChannelPair({ highWaterMark: 4 });
  let seed = 7;
  const size = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % 97 + 1;
  const side = (c: FrameChannel): ByteChannel => ({
    write: (chunk, signal) => c.send(chunk, signal),
    read: () => ({
      async *[Symbol.asyncIterator]() {
        for await (const chunk of c.frames()) {
          for (let offset = 0; offset < chunk.byteLength; ) {
            const n = size();
            yield chunk.subarray(offset, offset + n);
            offset += n;
          }
        }
      },
    }),
    close: () => c.close(),
    abort: (reason) => c.abort(reason),
  });
  return [side(x), side(y)];
}

describe('framed channel over a byte stream', () => {
  it('carries a whole session through arbitrary chunking, large values included', async () => {
    const a = openDevice('a');
    const b = openDevice('b');
    addTodos(a, 'a', 300);
    addTodos(b, 'b', 100, { data: Buffer.alloc(100_000, 7) });
    const [x, y] = choppyBytePipe();
    const [ra, rb] = await Promise.all([
      runSyncSession(a, createFramedChannel(x), { localDeviceId: idOf(a), batchSize: 64 }),
      runSyncSession(b, createFramedChannel(y), { localDeviceId: idOf(b), batchSize: 64 }),
    ]);
    expect([ra.sent, ra.received]).toEqual([300, 100]);
    expect(rb.bytesReceived).toBe(ra.bytesSent);
    expect(ra.bytesReceived).toBeGreaterThan(100 * 100_000);
    // Node's own comparison: vitest's deep equality walks 10 MB of blobs byte by byte.
    expect(isDeepStrictEqual(dump(a, 'todos'), dump(b, 'todos'))).toBe(true);
  });

  it('refuses to send a frame over the limit and keeps frames whole when sends overlap', async () => {
    const [x, y] = choppyBytePipe();
    const sender = createFramedChannel(x, { maxFrameBytes: 1000 });
    await expect(sender.send(new Uint8Array(1001))).rejects.toThrow(RangeError);
    const frames = [new Uint8Array(900).fill(1), new Uint8Array(70_000).fill(2), new Uint8Array(3).fill(3)];
    const receiver = createFramedChannel(y, { maxFrameBytes: 100_000 });
    const wide = createFramedChannel(x, { maxFrameBytes: 100_000 });
    const got: Uint8Array[] = [];
    const reading = (async () => {
      for await (const frame of receiver.frames()) got.push(frame);
    })();
    await Promise.all(frames.map((f) => wide.send(f)));
    await wide.close();
    await reading;
    expect(got.map((f) => [f.byteLength, f[0]])).toEqual([[900, 1], [70_000, 2], [3, 3]]);
  });
});
