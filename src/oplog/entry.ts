/**
 * Oplog entries: the unit of exchange between devices. Plain serialisable data (superjson keeps
 * bigint and Uint8Array), validated field by field before anything touches the database.
 */
import { InvalidEntryError } from '../errors.ts';
import { isHlcString } from '../clock/timestamp.ts';
import { isSqlValue, type SqlValue } from '../sqlite/values.ts';

export type OpType = 'insert' | 'update' | 'delete';

export interface OplogEntry {
  /** Synced table name. */
  table: string;
  /** Primary key of the row (synced tables have a single text key). */
  pk: string;
  op: OpType;
  /** HLC stamp of the write, 16 lower-case hex digits (sorts as text). */
  hlc: string;
  /** Device that made the write. */
  device: string;
  /** Causal length of the row after the write: odd means the row exists, even that it is deleted. */
  cl: number;
  /** Column values the write set; empty for a delete. */
  values: Record<string, SqlValue>;
}

/** Bounds on what a peer may send: checked before use, so a hostile entry cannot exhaust memory. */
export const ENTRY_LIMITS = {
  identifierLength: 256,
  pkLength: 4096,
  deviceLength: 256,
  columns: 62,
  /** Largest text or blob value, in bytes (SQLite's own default limit is 1e9). */
  valueBytes: 64 * 1024 * 1024,
} as const;

const OPS: ReadonlySet<string> = new Set(['insert', 'update', 'delete']);

/** Throws InvalidEntryError naming the entry index and the field that is wrong. */
export function validateEntry(value: unknown, index: number): OplogEntry {
  const { index: _, mask: __, ...entry } = validateIndexedEntry(value, index);
  return entry;
}

/** Merge's working copy of an entry: one object per entry, with what merge learns of it. */
export interface IndexedEntry extends OplogEntry {
  /** Position in the batch passed to merge. */
  index: number;
  /** The columns of `values` as a number mask (bit i = the table's column i); -1 until merge has it. */
  mask: number;
}

/** validateEntry for merge. Each field is read once, so what was checked is what is used. */
export function validateIndexedEntry(value: unknown, index: number): IndexedEntry {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return failEntry(index, 'not an object');
  const { table, pk, op, hlc, device, cl, values } = value as Record<string, unknown>;
  if (typeof table !== 'string' || table.length === 0 || table.length > ENTRY_LIMITS.identifierLength) failEntry(index, 'table must be a non-empty string of at most 256 characters');
  if (typeof pk !== 'string' || pk.length > ENTRY_LIMITS.pkLength) failEntry(index, 'pk must be a string of at most 4096 characters');
  if (typeof op !== 'string' || !OPS.has(op)) failEntry(index, `op must be insert, update or delete, not ${describe(op)}`);
  if (!isHlcString(hlc)) failEntry(index, `hlc must be 16 lower-case hex digits, not ${describe(hlc)}`);
  if (typeof device !== 'string' || device.length === 0 || device.length > ENTRY_LIMITS.deviceLength) failEntry(index, 'device must be a non-empty string of at most 256 characters');
  if (typeof cl !== 'number' || !Number.isSafeInteger(cl) || cl < 1) failEntry(index, `cl must be a positive integer, not ${describe(cl)}`);
  if (op === 'delete' ? cl % 2 !== 0 : cl % 2 !== 1) failEntry(index, `cl ${cl} contradicts op ${op} (odd means alive, even deleted)`);
  if (typeof values !== 'object' || values === null || Array.isArray(values)) failEntry(index, 'values must be an object');
  const keys = Object.keys(values);
  // Merge reads values with for...in, which also walks a prototype's enumerable keys: an object
  // with a prototype of its own is copied to its own keys, so only checked values are used.
  const proto = Object.getPrototypeOf(values) as unknown;
  const cells = (proto === Object.prototype || proto === null ? values : Object.fromEntries(keys.map((key) => [key, (values as Record<string, unknown>)[key]]))) as Record<string, unknown>;
  if (keys.length > ENTRY_LIMITS.columns) failEntry(index, `values has ${keys.length} columns; at most ${ENTRY_LIMITS.columns}`);
  if (op === 'delete' && keys.length > 0) failEntry(index, 'a delete carries no values');
  for (const key of keys) {
    if (key.length === 0 || key.length > ENTRY_LIMITS.identifierLength) failEntry(index, 'a column name is empty or too long');
    const v = cells[key];
    if (!isSqlValue(v)) failEntry(index, `value of column "${key.slice(0, 64)}" is not a SQLite value (${describe(v)})`);
    if ((typeof v === 'string' && v.length * 3 > ENTRY_LIMITS.valueBytes && Buffer.byteLength(v) > ENTRY_LIMITS.valueBytes) || (v instanceof Uint8Array && v.byteLength > ENTRY_LIMITS.valueBytes)) {
      failEntry(index, `value of column "${key.slice(0, 64)}" is larger than ${ENTRY_LIMITS.valueBytes} bytes`);
    }
  }
  return { table: table as string, pk: pk as string, op: op as OpType, hlc: hlc as string, device: device as string, cl: cl as number, values: cells as Record<string, SqlValue>, index, mask: -1 };
}

function failEntry(index: number, why: string): never {
  throw new InvalidEntryError(index, why);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 40));
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return `${typeof value} ${String(value)}`;
  return Array.isArray(value) ? 'an array' : typeof value;
}
