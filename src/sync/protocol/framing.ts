/**
 * Length-prefixed framing for byte streams: an unsigned LEB128 varint with the payload length,
 * then the payload. The decoder refuses a length over the limit as soon as the prefix is read, so
 * a hostile peer cannot make us buffer an oversized frame.
 */
import { MAX_FRAME_BYTES } from './constants.ts';
import { FrameTooLargeError, malformed } from './errors.ts';
import { varintSize } from './wire.ts';

/** A varint of MAX_FRAME_BYTES takes 4 bytes; a longer prefix is malformed. */
const MAX_PREFIX_BYTES = varintSize(MAX_FRAME_BYTES);

export function encodeFramePrefix(length: number): Uint8Array {
  const out = new Uint8Array(varintSize(length));
  let v = length;
  let i = 0;
  while (v >= 0x80) {
    out[i++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  out[i] = v;
  return out;
}

/** Prefix and payload in one buffer. */
export function encodeFrame(payload: Uint8Array): Uint8Array {
  const prefix = encodeFramePrefix(payload.byteLength);
  const out = new Uint8Array(prefix.byteLength + payload.byteLength);
  out.set(prefix);
  out.set(payload, prefix.byteLength);
  return out;
}

/** Bytes a frame of `payloadBytes` occupies on a byte stream. */
export function framedSize(payloadBytes: number): number {
  return varintSize(payloadBytes) + payloadBytes;
}

/**
 * Incremental de-framer: push chunks as they arrive, take whole frames out. Holds at most one
 * partial frame (bounded by maxFrameBytes) besides the chunks not yet consumed.
 */
export class FrameDecoder {
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private expected: number | undefined;

  constructor(private readonly maxFrameBytes: number = MAX_FRAME_BYTES) {}

  /** Bytes of the frame under way that have arrived (its length prefix included); 0 between frames. */
  get partialBytes(): number {
    return this.buffered + (this.expected === undefined ? 0 : varintSize(this.expected));
  }

  /** The payload length the frame under way announced, once its whole prefix has arrived. */
  get announcedBytes(): number | undefined {
    return this.expected;
  }

  /** Adds received bytes and returns every frame they complete. */
  push(chunk: Uint8Array): Uint8Array[] {
    if (chunk.byteLength > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.byteLength;
    }
    const frames: Uint8Array[] = [];
    for (;;) {
      if (this.expected === undefined) {
        const length = this.readPrefix();
        if (length === undefined) break;
        this.expected = length;
      }
      if (this.buffered < this.expected) break;
      frames.push(this.take(this.expected));
      this.expected = undefined;
    }
    return frames;
  }

  /** Call at the end of the stream: a partial frame left over is a truncated stream. */
  finish(): void {
    if (this.expected !== undefined || this.buffered > 0) throw malformed(`stream ended inside a frame (${this.buffered} bytes of ${this.expected ?? 'an unread length'})`);
  }

  private readPrefix(): number | undefined {
    let value = 0;
    let scale = 1;
    let index = 0;
    for (const chunk of this.chunks) {
      for (let i = 0; i < chunk.byteLength; i++) {
        const byte = chunk[i]!;
        value += (byte & 0x7f) * scale;
        index++;
        if (byte < 0x80) {
          if (byte === 0 && index > 1) throw malformed('frame length prefix is not minimal');
          if (value > this.maxFrameBytes) throw new FrameTooLargeError(value, this.maxFrameBytes);
          if (value === 0) throw malformed('empty frame');
          this.skip(index);
          return value;
        }
        // A continuation bit on the last allowed byte: the length is at least the next byte's worth.
        if (index >= MAX_PREFIX_BYTES) throw new FrameTooLargeError(value + scale * 0x80, this.maxFrameBytes, true);
        scale *= 0x80;
      }
    }
    return undefined;
  }

  private skip(bytes: number): void {
    this.take(bytes);
  }

  private take(bytes: number): Uint8Array {
    this.buffered -= bytes;
    const first = this.chunks[0]!;
    if (first.byteLength >= bytes) {
      const out = first.subarray(0, bytes);
      if (first.byteLength === bytes) this.chunks.shift();
      else this.chunks[0] = first.subarray(bytes);
      return out;
    }
    const out = new Uint8Array(bytes);
    let offset = 0;
    let used = 0;
    while (offset < bytes) {
      const chunk = this.chunks[used]!;
      const n = Math.min(chunk.byteLength, bytes - offset);
      out.set(chunk.subarray(0, n), offset);
      offset += n;
      if (n === chunk.byteLength) used++;
      else this.chunks[used] = chunk.subarray(n);
    }
    // One splice, not a shift per chunk: a frame may arrive in thousands of small chunks.
    this.chunks.splice(0, used);
    return out;
  }
}
