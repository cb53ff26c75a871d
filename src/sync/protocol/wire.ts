/**
 * Byte-level primitives of the wire format: unsigned LEB128 varints, zigzag for signed integers,
 * length-prefixed UTF-8 and bytes, little-endian float64. The reader checks every length against
 * the bytes that are left and against the caller's limit before it allocates anything.
 */
import { uuidOfBytes } from '../../oplog/log-key.ts';
import { malformed } from './errors.ts';

const encoder = new TextEncoder();
// ignoreBOM: a text that begins with U+FEFF keeps it (by default the decoder drops it, and the
// keys '\uFEFFk' and 'k' would arrive as one row).
const fatalDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Hex digit values by character code (lower-case only: callers pass canonical UUIDs). */
const HEX_VALUE = new Uint8Array(128);
for (let i = 0; i < 16; i++) HEX_VALUE['0123456789abcdef'.charCodeAt(i)] = i;
/** ASCII strings up to this many bytes are made with one String.fromCharCode call (far cheaper than TextDecoder for short ones). */
const ASCII_BY_CHAR_CODES = 4096;

/** Signed values below this in magnitude have a zigzag below 2^53 (WireWriter.zigzag). */
const SMALL_MAGNITUDE = 2n ** 51n;

export class WireWriter {
  private buffer: Uint8Array;
  private view: DataView;
  length = 0;

  constructor(initialCapacity = 256) {
    this.buffer = new Uint8Array(initialCapacity);
    this.view = new DataView(this.buffer.buffer);
  }

  private ensure(extra: number): void {
    const needed = this.length + extra;
    if (needed <= this.buffer.byteLength) return;
    let capacity = this.buffer.byteLength * 2;
    while (capacity < needed) capacity *= 2;
    const next = new Uint8Array(capacity);
    next.set(this.buffer.subarray(0, this.length));
    this.buffer = next;
    this.view = new DataView(next.buffer);
  }

  u8(value: number): void {
    this.ensure(1);
    this.buffer[this.length++] = value;
  }

  /** A canonical lower-case UUID string as its 16 bytes (the caller checked it with isCanonicalUuid). */
  uuid(value: string): void {
    this.ensure(16);
    const out = this.buffer;
    let o = this.length;
    for (let i = 0; i < 36; i += 2) {
      if (i === 8 || i === 13 || i === 18 || i === 23) i++;
      out[o++] = (HEX_VALUE[value.charCodeAt(i)]! << 4) | HEX_VALUE[value.charCodeAt(i + 1)]!;
    }
    this.length = o;
  }

  /** Unsigned varint of a safe integer. */
  varint(value: number): void {
    this.ensure(8);
    let v = value;
    while (v >= 0x80) {
      this.buffer[this.length++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buffer[this.length++] = v;
  }

  /** Unsigned varint of a 64-bit value. */
  varintBig(value: bigint): void {
    if (value <= 0x1fffffffffffffn) return this.varint(Number(value));
    this.ensure(10);
    let v = value;
    while (v >= 0x80n) {
      this.buffer[this.length++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buffer[this.length++] = Number(v);
  }

  /** Signed 64-bit integer, zigzag-encoded so small magnitudes take few bytes. */
  zigzag(value: bigint): void {
    // Most magnitudes are small: their zigzag is exact as a number, with no BigInt made.
    if (value < SMALL_MAGNITUDE && value > -SMALL_MAGNITUDE) {
      const n = Number(value);
      return this.varint(n >= 0 ? n * 2 : -n * 2 - 1);
    }
    this.varintBig(value >= 0n ? value << 1n : (-value << 1n) - 1n);
  }

  f64(value: number): void {
    this.ensure(8);
    this.view.setFloat64(this.length, value, true);
    this.length += 8;
  }

  bytes(value: Uint8Array): void {
    this.varint(value.byteLength);
    this.ensure(value.byteLength);
    this.buffer.set(value, this.length);
    this.length += value.byteLength;
  }

  string(value: string): void {
    if (value.length < 128 && this.ascii(value)) return;
    // Room for the worst case (3 bytes per UTF-16 unit) and a 5-byte length, then fix the length.
    const max = value.length * 3;
    const prefix = max < 0x80 ? 1 : max < 0x4000 ? 2 : max < 0x200000 ? 3 : max < 0x10000000 ? 4 : 5;
    // +8 so the varint() below never reallocates (which would drop the bytes past `length`).
    this.ensure(prefix + max + 8);
    const start = this.length + prefix;
    const { written } = encoder.encodeInto(value, this.buffer.subarray(start));
    const actual = written < 0x80 ? 1 : written < 0x4000 ? 2 : written < 0x200000 ? 3 : written < 0x10000000 ? 4 : 5;
    if (actual !== prefix) this.buffer.copyWithin(this.length + actual, start, start + written);
    this.varint(written);
    this.length += written;
  }

  /** Writes a short string directly if it is all ASCII (encodeInto costs more than the copy for short ones). */
  private ascii(value: string): boolean {
    const length = value.length;
    this.ensure(1 + length);
    const start = this.length + 1;
    const buffer = this.buffer;
    for (let i = 0; i < length; i++) {
      const code = value.charCodeAt(i);
      if (code >= 0x80) return false;
      buffer[start + i] = code;
    }
    buffer[this.length] = length;
    this.length = start + length;
    return true;
  }

  /** The written bytes (a view; copy if the writer is reused). */
  finish(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }
}

/** Node's Buffer where there is one: its native latin1 decoding is the fastest there. A browser has none. */
interface NativeBytes {
  toString(encoding: 'latin1', start: number, end: number): string;
}
type BufferFrom = (buffer: ArrayBufferLike, byteOffset: number, length: number) => NativeBytes;

function nativeBytes(data: Uint8Array): NativeBytes | undefined {
  const from = (globalThis as { Buffer?: { from?: BufferFrom } }).Buffer?.from;
  return typeof from === 'function' ? from(data.buffer, data.byteOffset, data.byteLength) : undefined;
}

export class WireReader {
  private readonly view: DataView;
  /** The same bytes as a Node Buffer, when there is one (see nativeBytes). */
  private readonly native: NativeBytes | undefined;
  offset = 0;
  /**
   * Where in the message the reader is (`entry #12`), prefixed to the field name of an error. A
   * function, called only when something is wrong: a batch reads a million fields, and building
   * their names up front would cost more than reading them.
   */
  context: (() => string) | undefined;

  constructor(private readonly data: Uint8Array) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    this.native = nativeBytes(data);
  }

  private label(what: string): string {
    return this.context === undefined ? what : `${this.context()} ${what}`;
  }

  get remaining(): number {
    return this.data.byteLength - this.offset;
  }

  u8(what: string): number {
    if (this.offset >= this.data.byteLength) throw malformed(`frame ends before ${this.label(what)}`);
    return this.data[this.offset++]!;
  }

  /** Unsigned varint, at most `max` (a safe integer). */
  varint(what: string, max: number = Number.MAX_SAFE_INTEGER): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const byte = this.u8(what);
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (byte === 0 && i > 0) throw malformed(`${this.label(what)}: varint is not minimal`);
        if (result > max) throw malformed(`${this.label(what)} is ${result}; at most ${max}`);
        return result;
      }
      scale *= 0x80;
    }
    throw malformed(`${this.label(what)}: varint longer than 8 bytes`);
  }

  /** Unsigned varint up to 2^64 - 1. */
  varintBig(what: string): bigint {
    let low = 0;
    let scale = 1;
    let i = 0;
    // Up to 28 bits in a plain number, the rest in a bigint.
    for (; i < 4; i++) {
      const byte = this.u8(what);
      low += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (byte === 0 && i > 0) throw malformed(`${this.label(what)}: varint is not minimal`);
        return BigInt(low);
      }
      scale *= 0x80;
    }
    let result = BigInt(low);
    let shift = 28n;
    for (; i < 10; i++) {
      const byte = this.u8(what);
      result |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) {
        if (byte === 0) throw malformed(`${this.label(what)}: varint is not minimal`);
        if (result >= 1n << 64n) throw malformed(`${this.label(what)}: varint beyond 64 bits`);
        return result;
      }
      shift += 7n;
    }
    throw malformed(`${this.label(what)}: varint longer than 10 bytes`);
  }

  zigzag(what: string): bigint {
    const z = this.varintBig(what);
    return (z & 1n) === 0n ? z >> 1n : -(z >> 1n) - 1n;
  }

  /**
   * zigzag() as a plain number when the varint takes at most 7 bytes (a magnitude below 2^48, what
   * stamp deltas and most integers are): no BigInt. Otherwise undefined, with nothing read, and the
   * caller reads it with zigzag().
   */
  zigzagSmall(what: string): number | undefined {
    const data = this.data;
    const start = this.offset;
    let z = 0;
    let scale = 1;
    for (let i = 0; i < 7; i++) {
      const at = start + i;
      if (at >= data.byteLength) throw malformed(`frame ends before ${this.label(what)}`);
      const byte = data[at]!;
      z += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (byte === 0 && i > 0) throw malformed(`${this.label(what)}: varint is not minimal`);
        this.offset = at + 1;
        return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
      }
      scale *= 0x80;
    }
    return undefined;
  }

  f64(what: string): number {
    if (this.remaining < 8) throw malformed(`frame ends inside ${this.label(what)}`);
    const value = this.view.getFloat64(this.offset, true);
    this.offset += 8;
    return value;
  }

  /** 16 bytes read back as the canonical lower-case UUID string. */
  uuid(what: string): string {
    if (this.remaining < 16) throw malformed(`frame ends inside ${this.label(what)}`);
    const at = this.offset;
    this.offset += 16;
    return uuidOfBytes(this.data, at);
  }

  /** A length-prefixed byte string, copied out so it does not pin the frame in memory. */
  bytes(what: string, maxBytes: number): Uint8Array {
    const length = this.length(what, maxBytes);
    const out = this.data.slice(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }

  /** A length-prefixed UTF-8 string; invalid UTF-8 is malformed, not replaced. */
  string(what: string, maxBytes: number): string {
    const length = this.length(what, maxBytes);
    const start = this.offset;
    const end = start + length;
    this.offset = end;
    const bytes = this.data;
    let ascii = true;
    for (let i = start; i < end; i++) {
      if (bytes[i]! >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii && this.native !== undefined) return this.native.toString('latin1', start, end);
    if (ascii && length <= ASCII_BY_CHAR_CODES) return String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]);
    try {
      return fatalDecoder.decode(bytes.subarray(start, end));
    } catch {
      throw malformed(`${this.label(what)} is not valid UTF-8`);
    }
  }

  private length(what: string, maxBytes: number): number {
    const length = this.varint(`length of ${this.label(what)}`, maxBytes);
    if (length > this.remaining) throw malformed(`${this.label(what)} claims ${length} bytes; only ${this.remaining} left in the frame`);
    return length;
  }

  /** Throws unless the frame was read to its end (extensions from a newer minor are allowed by the caller). */
  end(what: string): void {
    if (this.remaining !== 0) throw malformed(`${this.remaining} unexpected bytes after ${this.label(what)}`);
  }
}

/** Bytes a varint of `value` takes. */
export function varintSize(value: number): number {
  let size = 1;
  let v = value;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    size++;
  }
  return size;
}
