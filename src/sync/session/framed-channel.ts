/**
 * A FrameChannel over a byte stream: each frame travels as a varint length and the payload. The
 * libp2p node wraps its stream as a ByteChannel (src/sync/node/byte-stream.ts has that shape) and
 * passes it here; the session never sees bytes that are not whole frames.
 */
import { MAX_FRAME_BYTES } from '../protocol/constants.ts';
import { encodeFramePrefix, FrameDecoder } from '../protocol/framing.ts';
import type { FrameChannel } from './channel.ts';

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
}

/** Below this size prefix and payload are copied into one write; above it the copy costs more than a second write. */
const COALESCE_BYTES = 64 * 1024;

export function createFramedChannel(bytes: ByteChannel, options: FramedChannelOptions = {}): FrameChannel {
  const maxFrameBytes = options.maxFrameBytes ?? MAX_FRAME_BYTES;
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
          for await (const chunk of bytes.read()) {
            for (const frame of decoder.push(chunk)) yield frame;
          }
          decoder.finish();
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
