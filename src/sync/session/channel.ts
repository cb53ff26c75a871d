/**
 * FrameChannel: what the sync session needs from a transport, a bidirectional channel of whole
 * frames with backpressure. createFramedChannel adapts a byte stream (a libp2p stream); the
 * in-memory pair here is for tests and in-process peers.
 */

export interface FrameChannel {
  /** Resolves when the frame is handed to the transport; waits while the transport is full. */
  send(frame: Uint8Array, signal?: AbortSignal): Promise<void>;
  /** Incoming frames; ends when the remote closes its side, throws if the channel is reset. Iterate once. */
  frames(): AsyncIterable<Uint8Array>;
  /** Graceful close of our sending side: frames already sent are still delivered. */
  close(): Promise<void>;
  /** Hard reset: unsent and unread frames are dropped, both ends see `reason`. */
  abort(reason: Error): void;
}

export interface MemoryChannelOptions {
  /** Frames queued per direction before send() waits for the reader. @default 16 */
  highWaterMark?: number;
}

/** One direction of a memory pair. */
class Pipe {
  readonly queue: Uint8Array[] = [];
  ended = false;
  error: Error | undefined;
  private readerWake: (() => void) | undefined;
  private readonly writerWakes = new Set<() => void>();

  constructor(readonly highWaterMark: number) {}

  wakeReader(): void {
    const wake = this.readerWake;
    this.readerWake = undefined;
    wake?.();
  }

  wakeWriters(): void {
    for (const wake of [...this.writerWakes]) wake();
  }

  readable(): Promise<void> {
    return new Promise((resolve) => (this.readerWake = resolve));
  }

  writable(signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (): void => {
        this.writerWakes.delete(done);
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        this.writerWakes.delete(done);
        reject(signal!.reason);
      };
      this.writerWakes.add(done);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  reset(reason: Error): void {
    this.error ??= reason;
    this.queue.length = 0;
    this.wakeReader();
    this.wakeWriters();
  }
}

class MemoryChannel implements FrameChannel {
  private closed = false;
  private iterated = false;

  constructor(
    private readonly outgoing: Pipe,
    private readonly incoming: Pipe,
  ) {}

  async send(frame: Uint8Array, signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      if (this.outgoing.error) throw this.outgoing.error;
      if (this.closed) throw new Error('channel is closed for sending');
      if (this.outgoing.queue.length < this.outgoing.highWaterMark) break;
      await this.outgoing.writable(signal);
    }
    // A copy, as a wire would make: the sender may reuse its buffer.
    this.outgoing.queue.push(frame.slice());
    this.outgoing.wakeReader();
  }

  frames(): AsyncIterable<Uint8Array> {
    if (this.iterated) throw new Error('frames() can be iterated once');
    this.iterated = true;
    const pipe = this.incoming;
    return {
      async *[Symbol.asyncIterator]() {
        for (;;) {
          if (pipe.error) throw pipe.error;
          const frame = pipe.queue.shift();
          if (frame !== undefined) {
            pipe.wakeWriters();
            yield frame;
            continue;
          }
          if (pipe.ended) return;
          await pipe.readable();
        }
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.outgoing.ended = true;
    this.outgoing.wakeReader();
  }

  abort(reason: Error): void {
    this.closed = true;
    this.outgoing.reset(reason);
    this.incoming.reset(reason);
  }
}

/** Two connected channels: what one sends, the other's frames() yields. */
export function createMemoryChannelPair(options: MemoryChannelOptions = {}): [FrameChannel, FrameChannel] {
  const highWaterMark = options.highWaterMark ?? 16;
  if (!Number.isInteger(highWaterMark) || highWaterMark < 1) throw new RangeError('highWaterMark must be a positive integer');
  const ab = new Pipe(highWaterMark);
  const ba = new Pipe(highWaterMark);
  return [new MemoryChannel(ab, ba), new MemoryChannel(ba, ab)];
}
