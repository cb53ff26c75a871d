/**
 * The binary form of oplog entries (row deltas) inside a BATCH frame: per entry the row and its
 * causal length, then a group per distinct clock with its cells. Table names, column names and
 * device ids are dictionary-coded per frame (defined inline at first use, then referred to by
 * index), HLC stamps are deltas from the previous stamp, and every value carries a storage-class
 * tag, so INTEGER/REAL/TEXT/BLOB/NULL come out exactly as they went in.
 */
import { hlcHalf, MAX_PACKED } from '../../clock/timestamp.ts';
import { ENTRY_LIMITS, type CellGroup, type OplogEntry } from '../../oplog/entry.ts';
// The log packs the same keys (only the exact lower-case hyphenated form: anything else must come back byte for byte as sent).
import { HEX_CODE, isCanonicalUuid } from '../../oplog/log-key.ts';
import { setOwn, utf8ByteLength, type SqlValue } from '../../sqlite/values.ts';
import { malformed } from './errors.ts';
import { WireReader, WireWriter } from './wire.ts';

export const VALUE_TAG = { null: 0, integer: 1, real: 2, text: 3, blob: 4 } as const;

/** Byte limits derived from merge's character limits (a UTF-16 unit is at most 3 UTF-8 bytes). */
export const WIRE_LIMITS = {
  identifierBytes: ENTRY_LIMITS.identifierLength * 3,
  pkBytes: ENTRY_LIMITS.pkLength * 3,
  deviceBytes: ENTRY_LIMITS.deviceLength * 3,
  valueBytes: ENTRY_LIMITS.valueBytes,
} as const;

const MAX_INT64 = (1n << 63n) - 1n;
const MIN_INT64 = -(1n << 63n);

/** Bit of the flags byte saying the key follows as a 16-byte UUID rather than a string. */
export const UUID_KEY_FLAG = 0x80;

/** The flag bits an entry may carry; any other is refused. */
const KNOWN_ENTRY_FLAGS = UUID_KEY_FLAG;

/**
 * Writes entries with per-frame dictionaries; one encoder per frame. The device dictionary starts
 * with the sender's own id (reference 1), which the peer knows from its HELLO: the sender's own
 * writes, most of what it sends, name their device in one byte. Stamps are deltas from the
 * previous stamp in the frame, the first from `base` (the frame's cursor: a log position of the
 * sender, packed like a stamp and usually close to the stamps it covers).
 */
export class EntryEncoder {
  private readonly tables = new Map<string, number>();
  private readonly columns = new Map<string, number>();
  private readonly devices = new Map<string, number>();
  /** The previous stamp as two 32-bit halves: most deltas are then written with no BigInt. */
  private previousHi: number;
  private previousLo: number;
  /** Where the frame's first stamp was written, to write it again from another base (rebased()). */
  private first: { at: number; end: number; hlc: bigint } | undefined;
  count = 0;

  constructor(
    readonly writer: WireWriter,
    sender: string = '',
    private readonly base: bigint = 0n,
  ) {
    // Reference 1 is the sender whatever it is called; '' (no sender given) matches no valid entry.
    this.devices.set(sender, 0);
    this.previousHi = Number(base >> 32n);
    this.previousLo = Number(base & 0xffffffffn);
  }

  write(entry: OplogEntry): void {
    const w = this.writer;
    // Keys that are canonical UUIDs (what most apps use) travel as 16 bytes instead of 37.
    const uuidKey = isCanonicalUuid(entry.pk);
    w.u8(uuidKey ? UUID_KEY_FLAG : 0);
    this.ref(this.tables, entry.table);
    if (uuidKey) w.uuid(entry.pk);
    else w.string(entry.pk);
    w.varint(entry.cl);
    const groups = entry.groups;
    w.varint(groups.length);
    for (const group of groups) {
      const text = group.hlc;
      const hi = text.length === 16 ? hlcHalf(text, 0) : -1;
      const lo = hi < 0 ? -1 : hlcHalf(text, 8);
      const at = w.length;
      if (lo >= 0 && Math.abs(hi - this.previousHi) < 2 ** 19) {
        // Below 2^52 in magnitude: exact as a number, and so is its zigzag.
        const delta = (hi - this.previousHi) * 0x100000000 + (lo - this.previousLo);
        w.varint(delta >= 0 ? delta * 2 : -delta * 2 - 1);
        this.previousHi = hi;
        this.previousLo = lo;
      } else {
        const hlc = BigInt(`0x${text}`);
        w.zigzag(hlc - ((BigInt(this.previousHi) << 32n) | BigInt(this.previousLo)));
        this.previousHi = Number(hlc >> 32n);
        this.previousLo = Number(hlc & 0xffffffffn);
      }
      if (this.first === undefined) this.first = { at, end: w.length, hlc: BigInt(`0x${text}`) };
      this.ref(this.devices, group.device);
      const values = group.values;
      const names = Object.keys(values);
      w.varint(names.length);
      for (const name of names) {
        this.ref(this.columns, name);
        writeValue(w, values[name]!);
      }
    }
    this.count++;
  }

  /** The bytes written, with the first stamp as a delta from `base` instead of the encoder's own. */
  rebased(base: bigint): Uint8Array {
    const body = this.writer.finish();
    if (this.first === undefined || base === this.base) return body;
    const { at, end, hlc } = this.first;
    const stamp = new WireWriter(16);
    stamp.zigzag(hlc - base);
    const out = new Uint8Array(body.length - (end - at) + stamp.length);
    out.set(body.subarray(0, at));
    out.set(stamp.finish(), at);
    out.set(body.subarray(end), at + stamp.length);
    return out;
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
  let size = 32 + (entry.table.length + entry.pk.length) * 3;
  for (const group of entry.groups) {
    size += 24 + group.device.length * 3;
    for (const name in group.values) size += 16 + name.length * 3 + valueSizeBound(group.values[name]!);
  }
  return size;
}

function valueSizeBound(value: SqlValue): number {
  if (typeof value === 'string') return value.length * 3;
  if (value instanceof Uint8Array) return value.byteLength;
  return 10;
}

/**
 * Splits an entry too large for one frame into entries of the same table, key and causal length,
 * each carrying some of its cells with their groups' stamps and devices: merge keeps one register
 * per cell, so the parts apply exactly as the whole would.
 */
export function splitEntry(entry: OplogEntry, budget: number): OplogEntry[] {
  const base = 32 + (entry.table.length + entry.pk.length) * 3;
  const parts: OplogEntry[] = [];
  let groups: CellGroup[] = [];
  let size = base;
  for (const { hlc, device, values } of entry.groups) {
    const head = 24 + device.length * 3;
    let group: CellGroup | undefined;
    for (const [name, value] of Object.entries(values)) {
      let cell = 16 + name.length * 3 + valueSizeBound(value);
      if (base + head + cell > budget && typeof value === 'string') cell = 16 + name.length * 3 + utf8ByteLength(value);
      if (base + head + cell > budget) throw new RangeError(`column "${name}" of ${entry.table}/${entry.pk} is too large for a frame`);
      if (size + (group ? 0 : head) + cell > budget && groups.length > 0) {
        parts.push({ table: entry.table, pk: entry.pk, cl: entry.cl, groups });
        groups = [];
        group = undefined;
        size = base;
      }
      if (!group) {
        groups.push((group = { hlc, device, values: {} }));
        size += head;
      }
      setOwn(group.values, name, value);
      size += cell;
    }
  }
  if (groups.length > 0 || parts.length === 0) parts.push({ table: entry.table, pk: entry.pk, cl: entry.cl, groups: groups.length > 0 ? groups : entry.groups });
  return parts;
}

/** The arrays of entries readEntries made, which nothing else can add to (see isDecodedEntries). */
const decodedArrays = new WeakSet<readonly OplogEntry[]>();

/**
 * Whether `entries` is an array readEntries returned: every field of it was bounded and typed as
 * merge's own check would (merge/merge.ts mergeDecodedEntries trusts that).
 */
export function isDecodedEntries(entries: readonly OplogEntry[]): boolean {
  return decodedArrays.has(entries);
}

/**
 * Reads `count` entries; every field is bounded and typed here as merge's validation checks it
 * (names non-empty, a causal length within ENTRY_LIMITS, a deleted incarnation one group without
 * cells, only a lone group without cells, no column twice, at most ENTRY_LIMITS.columns cells,
 * stamps of 16 lower-case hex digits below 2^63, values of SQLite's storage classes within their
 * limits), text lengths in UTF-8 bytes; the array is marked decoded (isDecodedEntries) when its
 * names and keys are also within merge's limits in characters.
 * `sender` is the peer's device id from its HELLO (device reference 1), `base` the frame's cursor.
 */
export function readEntries(r: WireReader, count: number, sender: string | undefined, base: bigint): OplogEntry[] {
  const tables: string[] = [];
  const columns: string[] = [];
  // Reference 1 is the sender; a decoder that was not told who it is refuses it.
  const devices: string[] = [sender ?? ''];
  // The previous stamp as two 32-bit halves (a stamp is below 2^63): a delta that fits in a number
  // (almost all) takes no BigInt.
  let hi = Number(base >> 32n);
  let lo = Number(base & 0xffffffffn);
  const entries: OplogEntry[] = new Array<OplogEntry>(count);
  // The byte limits above let through text longer in characters than merge's limits (a UTF-16 unit
  // takes up to 3 bytes); such an array is not marked decoded, so merge checks it and refuses it.
  let withinMergeLimits = true;
  // Field names for errors are built only when one is thrown (see WireReader.context).
  let i = 0;
  let column: string | undefined;
  const where = () => (column === undefined ? `entry #${i}` : `entry #${i} column "${column.slice(0, 64)}"`);
  const previous = r.context;
  r.context = where;
  try {
    for (; i < count; i++) {
      column = undefined;
      const flags = r.u8('flags');
      if ((flags & ~KNOWN_ENTRY_FLAGS) !== 0) throw malformed(`${where()}: unknown flags ${flags}`);
      const table = readRef(r, tables, 'table name', WIRE_LIMITS.identifierBytes);
      const pk = flags & UUID_KEY_FLAG ? r.uuid('pk') : r.string('pk', WIRE_LIMITS.pkBytes);
      if (pk.length > ENTRY_LIMITS.pkLength) withinMergeLimits = false;
      // Bounded as merge bounds it: a higher one would be refused by every peer once stored.
      const cl = r.varint('causal length', ENTRY_LIMITS.causalLength);
      if (cl < 1) throw malformed(`${where()}: causal length must be positive`);
      const deleted = cl % 2 === 0;
      // A group takes at least 3 bytes (stamp, device, column count).
      const groupCount = r.varint('group count', Math.min(deleted ? 1 : ENTRY_LIMITS.groups, Math.floor(r.remaining / 3)));
      if (groupCount < 1) throw malformed(`${where()}: an entry has at least one group`);
      const groups: CellGroup[] = new Array<CellGroup>(groupCount);
      let cells = 0;
      const seen = groupCount > 1 ? new Set<string>() : undefined;
      for (let g = 0; g < groupCount; g++) {
        column = undefined;
        const delta = r.zigzagSmall('hlc');
        if (delta !== undefined) {
          const low = lo + delta;
          const carry = Math.floor(low / 0x100000000);
          lo = low - carry * 0x100000000;
          hi += carry;
          if (hi < 0 || hi > 0x7fffffff) throw malformed(`${where()}: hlc out of range`);
        } else {
          const hlc = (BigInt(hi) << 32n) + BigInt(lo) + r.zigzag('hlc');
          if (hlc < 0n || hlc > MAX_PACKED) throw malformed(`${where()}: hlc out of range`);
          hi = Number(hlc >> 32n);
          lo = Number(hlc & 0xffffffffn);
        }
        const device = readRef(r, devices, 'device', WIRE_LIMITS.deviceBytes);
        if (device === '') throw malformed(`${where()}: device reference 1 names the sender, which this decoder was not told`);
        const columnCount = r.varint('column count', deleted ? 0 : ENTRY_LIMITS.columns - cells);
        if (columnCount === 0 && groupCount > 1) throw malformed(`${where()}: group ${g} sets no column; only a lone group may`);
        cells += columnCount;
        const values: Record<string, SqlValue> = {};
        for (let c = 0; c < columnCount; c++) {
          column = undefined;
          const name = readRef(r, columns, 'column name', WIRE_LIMITS.identifierBytes);
          column = name;
          if (Object.hasOwn(values, name) || seen?.has(name) === true) throw malformed(`${where()}: appears twice`);
          seen?.add(name);
          setOwn(values, name, readValue(r, 'value'));
        }
        groups[g] = { hlc: stampText(hi, lo), device, values };
      }
      entries[i] = { table, pk, cl, groups };
    }
  } finally {
    r.context = previous;
  }
  const longest = (names: readonly string[]) => names.reduce((most, name) => Math.max(most, name.length), 0);
  if (withinMergeLimits && longest(tables) <= ENTRY_LIMITS.identifierLength && longest(columns) <= ENTRY_LIMITS.identifierLength && longest(devices) <= ENTRY_LIMITS.deviceLength) decodedArrays.add(entries);
  return entries;
}

/** stampText's character codes. */
const stampCodes: number[] = new Array<number>(16).fill(0);

/** A stamp from its two 32-bit halves as its 16 lower-case hex digits, one flat string. */
function stampText(hi: number, lo: number): string {
  let high = hi;
  let low = lo;
  for (let i = 7; i >= 0; i--) {
    stampCodes[i] = HEX_CODE[high & 15]!;
    stampCodes[i + 8] = HEX_CODE[low & 15]!;
    high >>>= 4;
    low >>>= 4;
  }
  return String.fromCharCode.apply(null, stampCodes);
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
      const small = r.zigzagSmall(what);
      if (small !== undefined) return BigInt(small);
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
