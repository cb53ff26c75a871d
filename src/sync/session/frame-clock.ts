/**
 * The time a peer may take over a frame it began. Once the first byte of a frame has arrived, the
 * bytes so far buy time: `baseMs` plus each byte at `minBytesPerSecond`. A frame of n bytes thus
 * takes at most base + n / rate, and a peer that dribbles (a byte a second, a length prefix alone)
 * is cut after about the base time. Only time spent waiting for the peer counts: while our reader
 * is busy with the frames before (a group commit, a tab's transaction), the clock stands still.
 *
 * One timer per frame, not per chunk: a large frame arrives in thousands of chunks, and a timer
 * set and cleared for each cost a third of the time of reading them.
 */
import { FrameTimeoutError } from '../protocol/errors.ts';
import type { FrameDecoder } from '../protocol/framing.ts';

export interface FrameTiming {
  baseMs: number;
  minBytesPerSecond: number;
}

/** After the timer finds the time spent, one more turn lets bytes that came while the event loop was busy be read first. */
const nextTurn: (callback: () => void) => void = typeof setImmediate === 'function' ? (callback) => setImmediate(callback) : (callback) => setTimeout(callback, 0);

/** setTimeout's largest delay (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class FrameClock {
  /** Time spent waiting for the peer since the frame under way began, not counting the wait in progress. */
  private waitedMs = 0;
  /** When the wait in progress began, and how to end it early. */
  private waitingSince: number | undefined;
  private interrupt: (() => void) | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** Numbers the waits, so a late answer to one that ended finds it ended. */
  private waits = 0;

  constructor(
    private readonly timing: FrameTiming,
    private readonly decoder: FrameDecoder,
  ) {}

  /** The source's next chunk; while a frame is under way, no later than its time allows. */
  next(source: AsyncIterator<Uint8Array>): Promise<IteratorResult<Uint8Array>> {
    if (this.decoder.partialBytes === 0) return source.next();
    const since = performance.now();
    const wait = ++this.waits;
    this.waitingSince = since;
    if (this.timer === undefined) this.arm(this.leftMs());
    return new Promise((resolve, reject) => {
      // Whichever comes first ends the wait; the other finds it ended.
      const end = (): boolean => {
        if (this.waits !== wait || this.waitingSince === undefined) return false;
        this.waitedMs += performance.now() - since;
        this.waitingSince = undefined;
        this.interrupt = undefined;
        return true;
      };
      this.interrupt = () => {
        if (end()) reject(new FrameTimeoutError(this.decoder.partialBytes, this.decoder.announcedBytes, this.waitedMs));
      };
      source.next().then(
        (result) => {
          if (end()) resolve(result);
        },
        (error: unknown) => {
          if (end()) reject(error);
        },
      );
    });
  }

  /** After a chunk was pushed into the decoder: a frame it completed ends that frame's clock, and the next starts at zero. */
  pushed(completedFrames: number): void {
    if (completedFrames === 0 && this.decoder.partialBytes > 0) return;
    this.waitedMs = 0;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Stops the timer (the reading ended). */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private leftMs(): number {
    const waiting = this.waitingSince === undefined ? 0 : performance.now() - this.waitingSince;
    return this.timing.baseMs + (this.decoder.partialBytes * 1000) / this.timing.minBytesPerSecond - this.waitedMs - waiting;
  }

  private arm(ms: number): void {
    // A longer delay than setTimeout takes would fire at once: a long wait is looked at again.
    this.timer = setTimeout(() => this.check(), Math.min(Math.max(0, ms), MAX_TIMER_MS));
  }

  private check(): void {
    this.timer = undefined;
    // Not waiting: the clock stands still; the next wait arms the timer again.
    if (this.waitingSince === undefined) return;
    const left = this.leftMs();
    if (left > 0) return this.arm(left);
    const interrupt = this.interrupt;
    nextTurn(() => {
      if (this.interrupt === interrupt && this.leftMs() <= 0) interrupt?.();
      else if (this.timer === undefined && this.waitingSince !== undefined) this.arm(this.leftMs());
    });
  }
}
