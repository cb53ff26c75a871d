/**
 * The time a peer may take over a frame it began. Once the first byte of a frame has arrived, the
 * bytes so far buy time: `baseMs` plus each byte at `minBytesPerSecond`. A frame of n bytes thus
 * takes at most base + n / rate, and a peer that dribbles (a byte a second, a length prefix alone)
 * is cut after about the base time. Only time spent waiting for the peer counts: while our reader
 * is busy with the frames before (a group commit, a tab's transaction), the clock stands still.
 */
import { FrameTimeoutError } from '../protocol/errors.ts';
import type { FrameDecoder } from '../protocol/framing.ts';

export interface FrameTiming {
  baseMs: number;
  minBytesPerSecond: number;
}

const EXPIRED = Symbol('expired');

/** After a timer fires, one more turn lets bytes that came in while the event loop was busy be read first. */
const nextTurn: (callback: () => void) => void = typeof setImmediate === 'function' ? (callback) => setImmediate(callback) : (callback) => setTimeout(callback, 0);

export class FrameClock {
  /** Time spent waiting for the peer since the frame under way began. */
  private waitedMs = 0;

  constructor(private readonly timing: FrameTiming) {}

  /** The source's next chunk; while a frame is under way, no later than its time allows. */
  async next(source: AsyncIterator<Uint8Array>, decoder: FrameDecoder): Promise<IteratorResult<Uint8Array>> {
    const received = decoder.partialBytes;
    if (received === 0) return source.next();
    const allowedMs = this.timing.baseMs + (received * 1000) / this.timing.minBytesPerSecond - this.waitedMs;
    const started = performance.now();
    const result = await within(source.next(), allowedMs);
    this.waitedMs += performance.now() - started;
    if (result === EXPIRED) throw new FrameTimeoutError(received, decoder.announcedBytes, this.waitedMs);
    return result;
  }

  /** After a chunk was pushed into the decoder: a frame it completed ends that frame's clock, and the next starts at zero. */
  pushed(completedFrames: number, decoder: FrameDecoder): void {
    if (completedFrames > 0 || decoder.partialBytes === 0) this.waitedMs = 0;
  }
}

function within<T>(pending: Promise<T>, ms: number): Promise<T | typeof EXPIRED> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => nextTurn(() => {
      if (settled) return;
      settled = true;
      resolve(EXPIRED);
    }), Math.max(0, ms));
    pending.then(
      (value) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
