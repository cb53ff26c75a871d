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

export function encodeHeldEntry(entry: OplogEntry): Buffer {
  const texts = new Map<string, Buffer>();
  const utf8 = (s: string): Buffer => {
    let bytes = texts.get(s);
    if (bytes === undefined) texts.set(s, (bytes = Buffer.from(s, 'utf8')));
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
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  const str = (s: string): void => {
    const bytes = utf8(s);
    at = out.writeUInt32BE(bytes.length, at);
    at += bytes.copy(out, at);
  };
  at = out.writeUInt8(VERSION, at);
  str(entry.table);
  str(entry.pk);
  at = out.writeDoubleBE(entry.cl, at);
  at = out.writeUInt32BE(entry.groups.length, at);
  for (const group of entry.groups) {
    at += out.write(group.hlc, at, 8, 'hex');
    str(group.device);
    const columns = Object.keys(group.values);
    at = out.writeUInt32BE(columns.length, at);
    for (const column of columns) {
      str(column);
      const value = group.values[column]!;
      if (value === null) at = out.writeUInt8(TAG.null, at);
      else if (typeof value === 'bigint') at = out.writeBigInt64BE(value, out.writeUInt8(TAG.integer, at));
      else if (typeof value === 'number') at = out.writeDoubleBE(value, out.writeUInt8(TAG.real, at));
      else if (typeof value === 'string') {
        at = out.writeUInt8(TAG.text, at);
        str(value);
      } else {
        at = out.writeUInt32BE(value.length, out.writeUInt8(TAG.blob, at));
        out.set(value, at);
        at += value.length;
      }
    }
  }
  if (at !== size) throw new DatabaseError(`quarantine encoding wrote ${at} of ${size} bytes`);
  return out;
}

/** The entry back, as plain data for validateIndexedEntry; throws DatabaseError on bytes it did not write. */
export function decodeHeldEntry(bytes: Uint8Array): OplogEntry {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const need = (n: number): number => {
    if (at + n > buf.length) throw new DatabaseError(`quarantined entry of ${buf.length} bytes is truncated at byte ${at}`);
    const start = at;
    at += n;
    return start;
  };
  const u32 = (): number => buf.readUInt32BE(need(4));
  const str = (): string => {
    const length = u32();
    const start = need(length);
    return buf.toString('utf8', start, start + length);
  };
  const version = buf.readUInt8(need(1));
  if (version !== VERSION) throw new DatabaseError(`quarantined entry has format version ${version}; this Ahenk reads ${VERSION}`);
  const table = str();
  const pk = str();
  const cl = buf.readDoubleBE(need(8));
  const groupCount = u32();
  const groups: OplogEntry['groups'] = [];
  for (let g = 0; g < groupCount; g++) {
    const stamp = need(8);
    const hlc = buf.toString('hex', stamp, stamp + 8);
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
    const tag = buf.readUInt8(need(1));
    switch (tag) {
      case TAG.null:
        return null;
      case TAG.integer:
        return buf.readBigInt64BE(need(8));
      case TAG.real:
        return buf.readDoubleBE(need(8));
      case TAG.text:
        return str();
      case TAG.blob: {
        const length = u32();
        const start = need(length);
        return new Uint8Array(buf.subarray(start, start + length));
      }
      default:
        throw new DatabaseError(`quarantined entry has an unknown value tag ${tag}`);
    }
  }
}
