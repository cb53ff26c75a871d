/**
 * The binary form of oplog entries inside a BATCH frame. Table names, column names and device ids
 * are dictionary-coded per frame (defined inline at first use, then referred to by index), HLC
 * stamps are deltas from the previous entry, and every value carries a storage-class tag, so
 * INTEGER/REAL/TEXT/BLOB/NULL come out exactly as they went in.
 */
import { MAX_PACKED } from '../../clock/timestamp.ts';
import { ENTRY_LIMITS, type OplogEntry, type OpType } from '../../oplog/entry.ts';
import type { SqlValue } from '../../sqlite/values.ts';
import { malformed } from './errors.ts';
import { WireReader, WireWriter } from './wire.ts';

export const VALUE_TAG = { null: 0, integer: 1, real: 2, text: 3, blob: 4 } as const;
const OP_CODE: Record<OpType, number> = { insert: 0, update: 1, delete: 2 };
const OP_NAME: readonly OpType[] = ['insert', 'update', 'delete'];

/** Byte limits derived from merge's character limits (a UTF-16 unit is at most 3 UTF-8 bytes). */
export const WIRE_LIMITS = {
  identifierBytes: ENTRY_LIMITS.identifierLength * 3,
  pkBytes: ENTRY_LIMITS.pkLength * 3,
  deviceBytes: ENTRY_LIMITS.deviceLength * 3,
  valueBytes: ENTRY_LIMITS.valueBytes,
} as const;

const MAX_INT64 = (1n << 63n) - 1n;
const MIN_INT64 = -(1n << 63n);

/** Bit of the op byte saying the key follows as a 16-byte UUID rather than a string. */
export const UUID_KEY_FLAG = 0x80;
const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Only the exact lower-case hyphenated form: anything else must come back byte for byte as sent. */
export function isCanonicalUuid(value: string): boolean {
  return value.length === 36 && CANONICAL_UUID.test(value);
}

/** Writes entries with per-frame dictionaries; one encoder per frame. */
export class EntryEncoder {
  private readonly tables = new Map<string, number>();
  private readonly columns = new Map<string, number>();
  private readonly devices = new Map<string, number>();
  private previousHlc = 0n;
  count = 0;

  constructor(readonly writer: WireWriter) {}

  write(entry: OplogEntry): void {
    const w = this.writer;
    // Keys that are canonical UUIDs (what most apps use) travel as 16 bytes instead of 37.
    const uuidKey = isCanonicalUuid(entry.pk);
    w.u8(OP_CODE[entry.op] | (uuidKey ? UUID_KEY_FLAG : 0));
    this.ref(this.tables, entry.table);
    if (uuidKey) w.uuid(entry.pk);
    else w.string(entry.pk);
    const hlc = BigInt(`0x${entry.hlc}`);
    w.zigzag(hlc - this.previousHlc);
    this.previousHlc = hlc;
    this.ref(this.devices, entry.device);
    w.varint(entry.cl);
    const names = Object.keys(entry.values);
    w.varint(names.length);
    for (const name of names) {
      this.ref(this.columns, name);
      writeValue(w, entry.values[name]!);
    }
    this.count++;
  }

  private ref(dictionary: Map<string, number>, name: string): void {
    const index = dictionary.get(name);
    if (index !== undefined) return this.writer.varint(index + 1);
    dictionary.set(name, dictionary.size);
    this.writer.varint(0);
    this.writer.string(name);
  }
}

function writeValue(w: WireWriter, value: SqlValue): void {
  if (value === null) return w.u8(VALUE_TAG.null);
  switch (typeof value) {
    case 'bigint':
      w.u8(VALUE_TAG.integer);
      return w.zigzag(value);
    case 'number':
      w.u8(VALUE_TAG.real);
      return w.f64(value);
    case 'string':
      w.u8(VALUE_TAG.text);
      return w.string(value);
    default:
      w.u8(VALUE_TAG.blob);
      return w.bytes(value);
  }
}

/**
 * An upper bound on the encoded size of an entry, cheap enough to take for every entry: a frame is
 * cut before an entry that would push it past the frame limit.
 */
export function entrySizeBound(entry: OplogEntry): number {
  let size = 32 + (entry.table.length + entry.pk.length + entry.device.length) * 3;
  for (const name in entry.values) size += 16 + name.length * 3 + valueSizeBound(entry.values[name]!);
  return size;
}

function valueSizeBound(value: SqlValue): number {
  if (typeof value === 'string') return value.length * 3;
  if (value instanceof Uint8Array) return value.byteLength;
  return 10;
}

/**
 * Splits an entry too large for one frame into entries carrying a subset of its columns with the
 * same stamp and causal length: merge keeps one register per cell, so the parts apply exactly as
 * the whole would.
 */
export function splitEntry(entry: OplogEntry, budget: number): OplogEntry[] {
  const base = 32 + (entry.table.length + entry.pk.length + entry.device.length) * 3;
  const parts: OplogEntry[] = [];
  let values: Record<string, SqlValue> = {};
  let size = base;
  for (const [name, value] of Object.entries(entry.values)) {
    let cell = 16 + name.length * 3 + valueSizeBound(value);
    if (base + cell > budget && typeof value === 'string') cell = 16 + name.length * 3 + Buffer.byteLength(value);
    if (base + cell > budget) throw new RangeError(`column "${name}" of ${entry.table}/${entry.pk} is too large for a frame`);
    if (size + cell > budget && Object.keys(values).length > 0) {
      parts.push({ ...entry, values });
      values = {};
      size = base;
    }
    defineValue(values, name, value);
    size += cell;
  }
  parts.push({ ...entry, values });
  return parts;
}

/** Reads `count` entries; every field is bounded and typed here, and merge validates them again. */
export function readEntries(r: WireReader, count: number): OplogEntry[] {
  const tables: string[] = [];
  const columns: string[] = [];
  const devices: string[] = [];
  let previousHlc = 0n;
  const entries: OplogEntry[] = new Array<OplogEntry>(count);
  // Field names for errors are built only when one is thrown (see WireReader.context).
  let i = 0;
  let column: string | undefined;
  const where = () => (column === undefined ? `entry #${i}` : `entry #${i} column "${column.slice(0, 64)}"`);
  const previous = r.context;
  r.context = where;
  try {
    for (; i < count; i++) {
      column = undefined;
      const head = r.u8('op');
      const op = OP_NAME[head & ~UUID_KEY_FLAG];
      if (op === undefined) throw malformed(`${where()}: unknown op code ${head}`);
      const table = readRef(r, tables, 'table name', WIRE_LIMITS.identifierBytes);
      const pk = head & UUID_KEY_FLAG ? r.uuid('pk') : r.string('pk', WIRE_LIMITS.pkBytes);
      const hlc = previousHlc + r.zigzag('hlc');
      if (hlc < 0n || hlc > MAX_PACKED) throw malformed(`${where()}: hlc out of range`);
      previousHlc = hlc;
      const device = readRef(r, devices, 'device', WIRE_LIMITS.deviceBytes);
      const cl = r.varint('causal length');
      if (cl < 1) throw malformed(`${where()}: causal length must be positive`);
      const columnCount = r.varint('column count', ENTRY_LIMITS.columns);
      const values: Record<string, SqlValue> = {};
      for (let c = 0; c < columnCount; c++) {
        column = undefined;
        const name = readRef(r, columns, 'column name', WIRE_LIMITS.identifierBytes);
        column = name;
        if (Object.hasOwn(values, name)) throw malformed(`${where()}: appears twice`);
        defineValue(values, name, readValue(r, 'value'));
      }
      entries[i] = { table, pk, op, hlc: hlc.toString(16).padStart(16, '0'), device, cl, values };
    }
  } finally {
    r.context = previous;
  }
  return entries;
}

function readRef(r: WireReader, dictionary: string[], what: string, maxBytes: number): string {
  const index = r.varint(what, dictionary.length);
  if (index > 0) return dictionary[index - 1]!;
  const name = r.string(what, maxBytes);
  if (name.length === 0) throw malformed(`${described(r, what)} is empty`);
  dictionary.push(name);
  return name;
}

function readValue(r: WireReader, what: string): SqlValue {
  const tag = r.u8(what);
  switch (tag) {
    case VALUE_TAG.null:
      return null;
    case VALUE_TAG.integer: {
      const value = r.zigzag(what);
      if (value > MAX_INT64 || value < MIN_INT64) throw malformed(`${described(r, what)}: integer beyond 64 bits`);
      return value;
    }
    case VALUE_TAG.real: {
      const value = r.f64(what);
      // SQLite has no NaN (it stores NULL), so no honest peer sends one.
      if (Number.isNaN(value)) throw malformed(`${described(r, what)}: NaN is not a SQLite value`);
      return value;
    }
    case VALUE_TAG.text:
      return r.string(what, WIRE_LIMITS.valueBytes);
    case VALUE_TAG.blob:
      return r.bytes(what, WIRE_LIMITS.valueBytes);
    default:
      throw malformed(`${described(r, what)}: unknown value tag ${tag}`);
  }
}

/** The field's name with where the reader is, for an error message. */
function described(r: WireReader, what: string): string {
  return r.context === undefined ? what : `${r.context()} ${what}`;
}

/** Plain assignment of "__proto__" would replace the prototype instead of adding a column. */
function defineValue(values: Record<string, SqlValue>, name: string, value: SqlValue): void {
  if (name === '__proto__') Object.defineProperty(values, name, { value, enumerable: true, writable: true, configurable: true });
  else values[name] = value;
}
