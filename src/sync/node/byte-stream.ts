/**
 * A libp2p 3 stream as a plain byte duplex with backpressure in both directions. libp2p 3 streams
 * are event targets: iterating one buffers without limit, so reading here pauses the stream (and,
 * through yamux's window, the remote sender) while too many bytes wait unread; writing waits for
 * 'drain' when the muxer's buffer is full.
 */
import type { Stream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface';
import type { ByteChannel } from '../session/framed-channel.ts';
import { READ_HIGH_WATER_BYTES, READ_LOW_WATER_BYTES, STREAM_MAX_READ_BUFFER_BYTES } from './constants.ts';

/** The stream as the session's ByteChannel; reads throw the reset reason once the stream fails. */
export function byteChannelOf(stream: Stream): ByteChannel {
  stream.maxReadBufferLength = Math.max(stream.maxReadBufferLength, STREAM_MAX_READ_BUFFER_BYTES);
  const queue: Uint8Array[] = [];
  let queued = 0;
  // A peer that writes and closes at once (a refusal) may have ended the stream before we listen:
  // libp2p then says it ended while its buffer still holds the bytes, which it hands to the first
  // 'message' listener and follows with no 'end' event. The end counts once those are taken.
  const endedBeforeUs = stream.readableEnded || stream.status !== 'open';
  let ended = endedBeforeUs && stream.readBufferLength === 0;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const onMessage = (event: StreamMessageEvent): void => {
    const data = event.data instanceof Uint8Array ? event.data : event.data.subarray();
    queue.push(data);
    queued += data.byteLength;
    if (endedBeforeUs && stream.readBufferLength === 0) ended = true;
    if (queued > READ_HIGH_WATER_BYTES && stream.readStatus === 'readable') stream.pause();
    notify();
  };
  const onEnd = (): void => {
    ended = true;
    notify();
  };
  const onClose = (event: StreamCloseEvent): void => {
    ended = true;
    failure ??= event.error;
    notify();
  };
  stream.addEventListener('message', onMessage);
  stream.addEventListener('end', onEnd);
  stream.addEventListener('close', onClose);
  const detach = (): void => {
    stream.removeEventListener('message', onMessage);
    stream.removeEventListener('end', onEnd);
    stream.removeEventListener('close', onClose);
  };

  async function* read(): AsyncGenerator<Uint8Array> {
    try {
      for (;;) {
        const chunk = queue.shift();
        if (chunk !== undefined) {
          queued -= chunk.byteLength;
          if (queued < READ_LOW_WATER_BYTES && stream.readStatus === 'paused') stream.resume();
          yield chunk;
          continue;
        }
        if (failure !== undefined) throw failure;
        if (ended) return;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    } finally {
      detach();
    }
  }

  return {
    async write(chunk, signal) {
      signal?.throwIfAborted();
      if (!stream.send(chunk)) await stream.onDrain(signal === undefined ? {} : { signal });
    },
    read,
    async close(signal) {
      await stream.close(signal === undefined ? {} : { signal });
    },
    abort(reason) {
      failure ??= reason;
      stream.abort(reason);
      notify();
    },
  };
}
