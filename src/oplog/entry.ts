/**
 * Oplog entries: the unit of exchange between devices. An entry is a row delta: one row and one
 * incarnation (causal length), its cells in clock groups, each group the stamp and device of the
 * latest write of its cells. The same unit is what the log stores (one log row, its clock groups),
 * what the wire carries and what merge applies. Plain serialisable data (superjson keeps bigint
 * and Uint8Array), validated field by field before anything touches the database.
 */
import { InvalidEntryError } from '../errors.ts';
import { isHlcString } from '../clock/timestamp.ts';
import { isSqlValue, utf8ByteLength, type SqlValue } from '../sqlite/values.ts';

/** The operations of the manual path's input (buildOplogEntry); entries themselves carry none. */
export type OpType = 'insert' | 'update' | 'delete';

/** Cells of a row that one write stamped last. */
export interface CellGroup {
  /** HLC stamp of the write, 16 lower-case hex digits (sorts as text). */
  hlc: string;
  /** Device that made the write. */
  device: string;
  /** The cells' current values; empty only in a group that carries a stamp alone (see OplogEntry.groups). */
  values: Record<string, SqlValue>;
}

export interface OplogEntry {
  /** Synced table name. */
  table: string;
  /** Primary key of the row (synced tables have a single text key). */
  pk: string;
  /** Causal length of this incarnation: odd means the row exists, even that it is deleted. */
  cl: number;
  /**
   * The incarnation's cells by the write that stamped them last; no column is in two groups.
   * A deleted incarnation (even cl) has exactly one group, the delete's stamp, with no values.
   * A live one has groups that all set values, or one group with no values: a row created by its
   * key alone (or whose columns were all dropped since) still travels, with the stamp of its write.
   */
  groups: CellGroup[];
}

/** Bounds on what a peer may send: checked before use, so a hostile entry cannot exhaust memory. */
export const ENTRY_LIMITS = {
  identifierLength: 256,
  pkLength: 4096,
  deviceLength: 256,
  /** Cells per entry, all groups together (a table's columns). */
  columns: 62,
  /** Groups per entry: disjoint groups that set cells are at most one per column. */
  groups: 62,
  /** Largest text or blob value, in bytes (SQLite's own default limit is 1e9). */
  valueBytes: 64 * 1024 * 1024,
  /**
   * Largest causal length (2^48, even: a row there is deleted, and every live row can still be
   * deleted). Far below 2^53, so it stays an exact JS number; no honest row gets near it (a delete
   * and a re-insert of one key every millisecond for 4,000 years), so only a hostile or broken
   * peer can. The triggers never step past it (capture/triggers.ts): whatever merge accepts,
   * export can send.
   */
  causalLength: 2 ** 48,
} as const;

/** ENTRY_LIMITS.causalLength, by its name in docs/protocol.md. */
export const MAX_CAUSAL_LENGTH = ENTRY_LIMITS.causalLength;

/**
 * Merge's working copy of one group of an entry: the group's clock and cells with the row it
 * belongs to, its batch index and what merge learns of it. One object per group, no more.
 */
export interface IndexedGroup extends CellGroup {
  table: string;
  pk: string;
  cl: number;
  /** Position of the entry in the batch passed to merge. */
  index: number;
  /** The columns of `values` as a number mask (bit i = the table's column i); -1 until merge has it. */
  mask: number;
}

/** Throws InvalidEntryError naming the entry index and the field that is wrong. Returns a copy. */
export function validateEntry(value: unknown, index: number): OplogEntry {
  const groups = validateIndexedEntry(value, index);
  const { table, pk, cl } = groups[0]!;
  return { table, pk, cl, groups: groups.map(({ hlc, device, values }) => ({ hlc, device, values })) };
}

/** An entry as it was before merge worked on it: the working copies of its groups, joined again. */
export function entryOf(groups: readonly IndexedGroup[]): OplogEntry {
  const { table, pk, cl } = groups[0]!;
  return { table, pk, cl, groups: groups.map(({ hlc, device, values }) => ({ hlc, device, values })) };
}

/**
 * The working copies of an entry already checked as validateIndexedEntry checks it (the wire
 * decoder bounds and types every field as it reads it): no second pass over its values.
 */
export function checkedGroups(entry: OplogEntry, index: number): IndexedGroup[] {
  const { table, pk, cl, groups } = entry;
  const out = new Array<IndexedGroup>(groups.length);
  for (let g = 0; g < groups.length; g++) {
    const { hlc, device, values } = groups[g]!;
    out[g] = { table, pk, cl, hlc, device, values, index, mask: -1 };
  }
  return out;
}

/**
 * validateEntry for merge: the entry's groups as working copies, at least one. Own properties
 * only, each read once, so what was checked is what is used.
 */
export function validateIndexedEntry(value: unknown, index: number): IndexedGroup[] {
  try {
    return readIndexedEntry(value, index);
  } catch (error) {
    // A getter or a proxy in the entry threw while it was read: the entry is bad, not merge.
    if (error instanceof InvalidEntryError) throw error;
    throw new InvalidEntryError(index, `reading it threw: ${error instanceof Error ? error.message.slice(0, 200) : typeof error}`);
  }
}

function readIndexedEntry(value: unknown, index: number): IndexedGroup[] {
  if (!isRecord(value)) return failEntry(index, 'not an object');
  const table = own(value, 'table');
  const pk = own(value, 'pk');
  const cl = own(value, 'cl');
  const groups = own(value, 'groups');
  if (typeof table !== 'string' || table.length === 0 || table.length > ENTRY_LIMITS.identifierLength) failEntry(index, 'table must be a non-empty string of at most 256 characters');
  if (typeof pk !== 'string' || pk.length > ENTRY_LIMITS.pkLength) failEntry(index, 'pk must be a string of at most 4096 characters');
  if (typeof cl !== 'number' || !Number.isSafeInteger(cl) || cl < 1 || cl > MAX_CAUSAL_LENGTH) failEntry(index, `cl must be a positive integer of at most ${MAX_CAUSAL_LENGTH}, not ${describe(cl)}`);
  if (!Array.isArray(groups)) return failEntry(index, 'groups must be an array');
  const count = groups.length;
  if (count === 0 || count > ENTRY_LIMITS.groups) failEntry(index, `groups must hold 1 to ${ENTRY_LIMITS.groups} clock groups, not ${count}`);
  const deleted = cl % 2 === 0;
  if (deleted && count !== 1) failEntry(index, `a deleted incarnation (cl ${cl}) has one group, the delete's stamp, not ${count}`);
  const out: IndexedGroup[] = new Array<IndexedGroup>(count);
  // Column names come from the peer: a Set, never a plain object, tells whether one is taken.
  const taken = count > 1 ? new Set<string>() : undefined;
  let cells = 0;
  for (let g = 0; g < count; g++) {
    const group: unknown = groups[g];
    if (!isRecord(group)) failEntry(index, `group ${g} is not an object`);
    const hlc = own(group, 'hlc');
    const device = own(group, 'device');
    const values = own(group, 'values');
    if (!isHlcString(hlc)) failEntry(index, `group ${g}: hlc must be 16 lower-case hex digits, not ${describe(hlc)}`);
    if (typeof device !== 'string' || device.length === 0 || device.length > ENTRY_LIMITS.deviceLength) failEntry(index, `group ${g}: device must be a non-empty string of at most 256 characters`);
    if (!isRecord(values)) return failEntry(index, `group ${g}: values must be an object`);
    const keys = Object.keys(values);
    cells += keys.length;
    if (cells > ENTRY_LIMITS.columns) failEntry(index, `the groups set more than ${ENTRY_LIMITS.columns} columns`);
    if (deleted && keys.length > 0) failEntry(index, 'a deleted incarnation carries no values');
    if (keys.length === 0 && count > 1) failEntry(index, `group ${g} sets no column; only a lone group may carry a stamp alone`);
    // Each value is read once, into a copy of its own: a getter or a proxy cannot show merge a value
    // other than the one checked here, and merge's for...in sees no prototype's keys.
    const own_ = copyOwn(values, keys, index);
    for (const key of keys) {
      if (key.length === 0 || key.length > ENTRY_LIMITS.identifierLength) failEntry(index, 'a column name is empty or too long');
      if (taken !== undefined) {
        if (taken.has(key)) failEntry(index, `column "${key.slice(0, 64)}" is in two groups`);
        taken.add(key);
      }
      const v = own_[key];
      if (!isSqlValue(v)) failEntry(index, `value of column "${key.slice(0, 64)}" is not a SQLite value (${describe(v)})`);
      if (isTooLarge(v)) {
        failEntry(index, `value of column "${key.slice(0, 64)}" is larger than ${ENTRY_LIMITS.valueBytes} bytes`);
      }
    }
    out[g] = { table: table as string, pk: pk as string, cl: cl as number, hlc: hlc as string, device: device as string, values: own_ as Record<string, SqlValue>, index, mask: -1 };
  }
  return out;
}

/** Whether a text or blob value is past ENTRY_LIMITS.valueBytes (text in UTF-8 bytes), which merge and the codec refuse. */
export function isTooLarge(value: SqlValue): boolean {
  if (typeof value === 'string') return value.length * 3 > ENTRY_LIMITS.valueBytes && utf8ByteLength(value) > ENTRY_LIMITS.valueBytes;
  return value instanceof Uint8Array && value.byteLength > ENTRY_LIMITS.valueBytes;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A property of the object itself: an inherited one (a polluted prototype) reads as absent. */
function own(object: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(object, key) ? object[key] : undefined;
}

/**
 * The object's own values in a plain object, each read once ("__proto__" defined as a column, not
 * set as the prototype). A getter that throws refuses the entry.
 */
function copyOwn(values: Record<string, unknown>, keys: readonly string[], index: number): Record<string, unknown> {
  const copy: Record<string, unknown> = {};
  for (const key of keys) {
    let value: unknown;
    try {
      value = values[key];
    } catch (error) {
      failEntry(index, `reading column "${key.slice(0, 64)}" threw: ${error instanceof Error ? error.message.slice(0, 200) : typeof error}`);
    }
    if (key === '__proto__') Object.defineProperty(copy, key, { value, enumerable: true, writable: true, configurable: true });
    else copy[key] = value;
  }
  return copy;
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
