/**
 * A FrameChannel over a byte stream: each frame travels as a varint length and the payload. The
 * libp2p node wraps its stream as a ByteChannel (src/sync/node/byte-stream.ts has that shape) and
 * passes it here; the session never sees bytes that are not whole frames.
 */
import { FRAME_BASE_TIMEOUT_MS, FRAME_MIN_BYTES_PER_SECOND, MAX_FRAME_BYTES } from '../protocol/constants.ts';
import { encodeFramePrefix, FrameDecoder } from '../protocol/framing.ts';
import type { FrameChannel } from './channel.ts';
import { FrameClock } from './frame-clock.ts';

/** A bidirectional byte stream with backpressure. */
export interface ByteChannel {
  /** Resolves once the bytes are accepted by the transport (after it drained, when it was full). */
  write(chunk: Uint8Array, signal?: AbortSignal): Promise<void>;
  /** The remote's bytes in order; ends when the remote closes its side, throws if the stream fails. */
  read(): AsyncIterable<Uint8Array>;
  /** Closes our writing side once queued bytes are sent. */
  close(signal?: AbortSignal): Promise<void>;
  /** Resets the stream at once. */
  abort(reason: Error): void;
}

export interface FramedChannelOptions {
  /** Largest incoming frame accepted; a longer length prefix fails the read at once. @default MAX_FRAME_BYTES */
  maxFrameBytes?: number;
  /**
   * Once a frame's first byte has arrived, the frame may take this long plus its bytes at
   * `frameMinBytesPerSecond` (time we spend not reading does not count); a slower frame fails the
   * read with FrameTimeoutError (PROTOCOL_TIMEOUT). @default FRAME_BASE_TIMEOUT_MS
   */
  frameBaseTimeoutMs?: number;
  /** @default FRAME_MIN_BYTES_PER_SECOND */
  frameMinBytesPerSecond?: number;
}

/** Below this size prefix and payload are copied into one write; above it the copy costs more than a second write. */
const COALESCE_BYTES = 64 * 1024;

export function createFramedChannel(bytes: ByteChannel, options: FramedChannelOptions = {}): FrameChannel {
  const maxFrameBytes = options.maxFrameBytes ?? MAX_FRAME_BYTES;
  const timing = { baseMs: options.frameBaseTimeoutMs ?? FRAME_BASE_TIMEOUT_MS, minBytesPerSecond: options.frameMinBytesPerSecond ?? FRAME_MIN_BYTES_PER_SECOND };
  if (!isPositive(timing.baseMs) || !isPositive(timing.minBytesPerSecond)) throw new RangeError('createFramedChannel: frame timing must be positive finite numbers');
  let iterated = false;
  // Writes of two concurrent send() calls must not interleave prefix and payload.
  let writing: Promise<void> = Promise.resolve();

  const write = async (frame: Uint8Array, signal: AbortSignal | undefined): Promise<void> => {
    const prefix = encodeFramePrefix(frame.byteLength);
    if (frame.byteLength <= COALESCE_BYTES) {
      const out = new Uint8Array(prefix.byteLength + frame.byteLength);
      out.set(prefix);
      out.set(frame, prefix.byteLength);
      await bytes.write(out, signal);
    } else {
      await bytes.write(prefix, signal);
      // Once the prefix is out the payload must follow, or the stream is corrupt: no signal here.
      await bytes.write(frame);
    }
  };

  return {
    send(frame, signal) {
      if (frame.byteLength > maxFrameBytes) return Promise.reject(new RangeError(`frame of ${frame.byteLength} bytes exceeds ${maxFrameBytes}`));
      const next = writing.then(() => write(frame, signal));
      writing = next.catch(() => undefined);
      return next;
    },
    frames() {
      if (iterated) throw new Error('frames() can be iterated once');
      iterated = true;
      return {
        async *[Symbol.asyncIterator]() {
          const decoder = new FrameDecoder(maxFrameBytes);
          const clock = new FrameClock(timing, decoder);
          const source = bytes.read()[Symbol.asyncIterator]();
          let ended = false;
          try {
            for (;;) {
              const next = await clock.next(source);
              if (next.done === true) break;
              const frames = decoder.push(next.value);
              clock.pushed(frames.length);
              for (const frame of frames) yield frame;
            }
            ended = true;
            decoder.finish();
          } finally {
            clock.stop();
            // As for-await would; not awaited, as after a timeout the source's read is still pending.
            if (!ended) source.return?.().catch(() => undefined);
          }
        },
      };
    },
    async close() {
      await writing;
      await bytes.close();
    },
    abort(reason) {
      bytes.abort(reason);
    },
  };
}

function isPositive(n: number): boolean {
  return Number.isFinite(n) && n > 0;
}
