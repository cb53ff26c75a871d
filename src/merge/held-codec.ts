/**
 * The binary form of a quarantined entry (ahenk_quarantine.entry). superjson wrote a Uint8Array
 * as a JSON array of numbers, about 60x a blob's size in memory while it ran; this form holds
 * each value once, in its own storage class, and a blob costs its own bytes plus one copy.
 *
 * Layout, big-endian: version (u8 = 1); table, pk (str); cl (f64); group count (u32); per group
 * the stamp (8 bytes), device (str), cell count (u32), per cell the column (str), a tag (u8) and
 * the value: 0 NULL, 1 INTEGER (i64), 2 REAL (f64), 3 TEXT (str), 4 BLOB (u32 length, bytes).
 * A str is a u32 byte length and UTF-8.
 */
import { DatabaseError } from '../errors.ts';
import type { OplogEntry } from '../oplog/entry.ts';
import type { SqlValue } from '../sqlite/index.ts';

const VERSION = 1;
const TAG = { null: 0, integer: 1, real: 2, text: 3, blob: 4 } as const;
// Plain Uint8Array, DataView and TextEncoder/TextDecoder: this runs in a browser's worker too.
const encoder = new TextEncoder();
// fatal: false as Buffer's toString was, so rows stored before read back the same.
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

export function encodeHeldEntry(entry: OplogEntry): Uint8Array {
  const texts = new Map<string, Uint8Array>();
  const utf8 = (s: string): Uint8Array => {
    let bytes = texts.get(s);
    if (bytes === undefined) texts.set(s, (bytes = encoder.encode(s)));
    return bytes;
  };
  let size = 1 + 4 + utf8(entry.table).length + 4 + utf8(entry.pk).length + 8 + 4;
  for (const group of entry.groups) {
    size += 8 + 4 + utf8(group.device).length + 4;
    for (const column of Object.keys(group.values)) {
      const value = group.values[column]!;
      size += 4 + utf8(column).length + 1;
      if (typeof value === 'bigint' || typeof value === 'number') size += 8;
      else if (typeof value === 'string') size += 4 + utf8(value).length;
      else if (value instanceof Uint8Array) size += 4 + value.length;
    }
  }
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let at = 0;
  const u8 = (n: number): void => {
    view.setUint8(at, n);
    at += 1;
  };
  const u32 = (n: number): void => {
    view.setUint32(at, n);
    at += 4;
  };
  const f64 = (n: number): void => {
    view.setFloat64(at, n);
    at += 8;
  };
  const bytes = (b: Uint8Array): void => {
    out.set(b, at);
    at += b.length;
  };
  const str = (s: string): void => {
    const b = utf8(s);
    u32(b.length);
    bytes(b);
  };
  u8(VERSION);
  str(entry.table);
  str(entry.pk);
  f64(entry.cl);
  u32(entry.groups.length);
  for (const group of entry.groups) {
    writeStamp(out, at, group.hlc);
    at += 8;
    str(group.device);
    const columns = Object.keys(group.values);
    u32(columns.length);
    for (const column of columns) {
      str(column);
      const value = group.values[column]!;
      if (value === null) u8(TAG.null);
      else if (typeof value === 'bigint') {
        u8(TAG.integer);
        view.setBigInt64(at, value);
        at += 8;
      } else if (typeof value === 'number') {
        u8(TAG.real);
        f64(value);
      } else if (typeof value === 'string') {
        u8(TAG.text);
        str(value);
      } else {
        u8(TAG.blob);
        u32(value.length);
        bytes(value);
      }
    }
  }
  if (at !== size) throw new DatabaseError(`quarantine encoding wrote ${at} of ${size} bytes`);
  return out;
}

/**
 * The stamp's 16 hex digits as 8 bytes. Like Buffer's hex write it stops at the first pair that is
 * not hex and leaves the rest zero (validated entries always have 16 hex digits).
 */
function writeStamp(out: Uint8Array, at: number, hlc: string): void {
  for (let i = 0; i < 8; i++) {
    const pair = hlc.slice(2 * i, 2 * i + 2);
    if (!/^[0-9a-fA-F]{2}$/.test(pair)) return;
    out[at + i] = Number.parseInt(pair, 16);
  }
}

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

/** The entry back, as plain data for validateIndexedEntry; throws DatabaseError on bytes it did not write. */
export function decodeHeldEntry(buf: Uint8Array): OplogEntry {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let at = 0;
  const need = (n: number): number => {
    if (at + n > buf.length) throw new DatabaseError(`quarantined entry of ${buf.length} bytes is truncated at byte ${at}`);
    const start = at;
    at += n;
    return start;
  };
  const u8 = (): number => view.getUint8(need(1));
  const u32 = (): number => view.getUint32(need(4));
  const f64 = (): number => view.getFloat64(need(8));
  const str = (): string => {
    const length = u32();
    const start = need(length);
    return decoder.decode(buf.subarray(start, start + length));
  };
  const version = u8();
  if (version !== VERSION) throw new DatabaseError(`quarantined entry has format version ${version}; this Ahenk reads ${VERSION}`);
  const table = str();
  const pk = str();
  const cl = f64();
  const groupCount = u32();
  const groups: OplogEntry['groups'] = [];
  for (let g = 0; g < groupCount; g++) {
    const stamp = need(8);
    let hlc = '';
    for (let i = stamp; i < stamp + 8; i++) hlc += HEX[buf[i]!]!;
    const device = str();
    const cellCount = u32();
    // Column names come from data: defineProperty keeps a name such as `__proto__` an own property.
    const values: Record<string, SqlValue> = {};
    for (let c = 0; c < cellCount; c++) {
      const column = str();
      Object.defineProperty(values, column, { value: readValue(), enumerable: true, writable: true, configurable: true });
    }
    groups.push({ hlc, device, values });
  }
  if (at !== buf.length) throw new DatabaseError(`quarantined entry has ${buf.length - at} bytes after its end`);
  return { table, pk, cl, groups };

  function readValue(): SqlValue {
    const tag = u8();
    switch (tag) {
      case TAG.null:
        return null;
      case TAG.integer:
        return view.getBigInt64(need(8));
      case TAG.real:
        return f64();
      case TAG.text:
        return str();
      case TAG.blob: {
        const length = u32();
        const start = need(length);
        // A plain Uint8Array copy even when the driver handed a Buffer: the value must not pin the row's bytes.
        return new Uint8Array(buf.subarray(start, start + length));
      }
      default:
        throw new DatabaseError(`quarantined entry has an unknown value tag ${tag}`);
    }
  }
}
