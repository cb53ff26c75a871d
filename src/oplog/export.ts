/**
 * Export: what this database holds that a peer at a cursor lacks. Entries superseded
 * by later ones (a cell written again, a row deleted) are left out; values are read from the live
 * row, so the log stores clocks, not copies of the data.
 */
import { quoteIdent, type SqliteConnection } from '../sqlite/index.ts';
import { loadCatalog, type CapturedTable } from './catalog.ts';
import { OP } from './format.ts';
import { MAX_CAUSAL_LENGTH, type CellGroup, type OplogEntry } from './entry.ts';
import { SiteTable } from './sites.ts';
import { bytesFromHex, forEachClockGroup } from './clock-groups.ts';
import { fromSqlite, setOwn, type SqlValue } from '../sqlite/values.ts';

export interface OplogExport {
  /** Row deltas, one per row and incarnation, rows in the order of their oldest surviving write, table by table. */
  entries: OplogEntry[];
  /** Pass back as `since` to get only what is newer. Opaque. */
  cursor: string;
}

export interface ExportOptions {
  /** Export a window of about this many log rows (the cursor then points inside the log). @default unlimited */
  limit?: number;
}

/** The log after seq `from`, in one read transaction; capture must be current (the caller checks the catalog). */
export function exportOplog(raw: SqliteConnection, from: bigint, options: ExportOptions = {}): OplogExport {
  return raw.transaction(() => exportFrom(raw, from, options.limit), 'deferred');
}


function exportFrom(raw: SqliteConnection, from: bigint, limit: number | undefined): OplogExport {
  const catalog = loadCatalog(raw);
  const sites = new SiteTable(raw);
  // With a limit, export a seq window [from, to] so the cursor can resume exactly after it.
  let to: bigint | undefined;
  if (limit !== undefined) {
    const row = raw.cached('SELECT seq FROM ahenk_oplog WHERE seq > ? ORDER BY seq LIMIT 1 OFFSET ?').value(from, Math.max(0, limit - 1)) as bigint | undefined;
    to = row;
  }
  const maxSeq = (raw.cached('SELECT max(seq) FROM ahenk_oplog').value() as bigint | null) ?? 0n;
  const upTo = to ?? maxSeq;
  // Entries of a row stay in log order; rows (of one table or of different tables) are
  // independent, so the tables simply follow one another.
  const entries: OplogEntry[] = [];
  for (const table of catalog.byId.values()) exportTable(raw, table, sites, from, upTo, entries);
  const cursor = upTo > from ? upTo : from;
  return { entries, cursor: cursor.toString() };
}

/**
 * A scanned log row (or one clock group of it): key, stamp as hex, site, op, causal length, the
 * mask's two 31-bit halves. As scanned, the row's extra clock groups follow as hex in an eighth
 * field ('' when none).
 */
type LogRow = [pk: string, hlc: string, site: number, op: number, cl: number, lo: number, hi: number, more?: string];

const LOW_BITS = 31;
/** Log rows per scanned chunk (one JSON text of about 80 bytes a row). */
const SCAN_CHUNK = 20_000;
/** Keys per value query; json_each keeps the statement text fixed. */
const VALUE_CHUNK = 1000;
/** From this many rows wanted, reading the whole table can beat looking each one up. */
const WHOLE_TABLE_MIN_KEYS = 5000;

const DONE = 1;
/** An entry of the row survives, so its values must be read. */
const WANTED = 2;

/**
 * What the newest-first scan knows of one row so far, in typed arrays indexed by a slot per row
 * (an initial sync visits every row of the table: no object per row, little garbage).
 */
class RowStates {
  readonly slots = new Map<string, number>();
  count = 0;
  cl = new Float64Array(1024);
  lo = new Int32Array(1024);
  hi = new Int32Array(1024);
  flags = new Uint8Array(1024);
  /** Live values of the row (liveColumns order after the key), once read. */
  values: (unknown[] | undefined)[] = [];
  /** Keys of the wanted rows. */
  readonly needed: string[] = [];

  add(pk: string, cl: number): number {
    const slot = this.count++;
    if (slot === this.cl.length) this.grow();
    this.slots.set(pk, slot);
    this.cl[slot] = cl;
    return slot;
  }

  private grow(): void {
    const size = this.cl.length * 2;
    const cl = new Float64Array(size);
    cl.set(this.cl);
    this.cl = cl;
    const lo = new Int32Array(size);
    lo.set(this.lo);
    this.lo = lo;
    const hi = new Int32Array(size);
    hi.set(this.hi);
    this.hi = hi;
    const flags = new Uint8Array(size);
    flags.set(this.flags);
    this.flags = flags;
  }
}

function exportTable(raw: SqliteConnection, table: CapturedTable, sites: SiteTable, from: bigint, upTo: bigint, out: OplogEntry[]): void {
  const live = table.liveColumns;
  const bits = live.map((c) => table.columns.indexOf(c));
  let liveLo = 0;
  let liveHi = 0;
  for (const bit of bits) {
    if (bit < LOW_BITS) liveLo |= 1 << bit;
    else liveHi |= 1 << (bit - LOW_BITS);
  }
  // Stamps come out as the hex text entries carry and masks as two small halves, so the scan
  // allocates no BigInts; only the values (read once per row below) need exact 64-bit integers.
  // Each chunk of log rows comes as one JSON array: one JSON.parse costs far less than a
  // driver's row per log row. The subquery's ORDER BY with LIMIT is not flattened, so the
  // aggregate takes the rows newest first (test/merge/export-scan.test.ts holds it to that).
  // A log row without extra clock groups (every local write) leaves the eighth field out.
  const fields = `pk, printf('%016x', coalesce(hlc, seq)), site, op, cl, cols & 2147483647, (cols >> ${LOW_BITS}) & 2147483647`;
  const columns = `CASE WHEN more IS NULL THEN json_array(${fields}) ELSE json_array(${fields}, hex(more)) END`;
  const window = `SELECT seq, hlc, site, op, cl, cols, pk, more FROM ahenk_oplog WHERE tbl = ? AND seq > ? AND seq <= ? ORDER BY seq DESC LIMIT ${SCAN_CHUNK}`;
  // The chunk's lowest seq comes with it: the next chunk ends just below.
  const scanChunk = raw.cached(`SELECT json_group_array(${columns}), min(seq) FROM (${window})`);

  // Newest first: the first entry seen for a row fixes its causal length; older entries only
  // contribute columns nothing newer has covered. A survivor keeps its scanned row, with the
  // mask narrowed to the columns it still contributes.
  const states = new RowStates();
  const survivors: LogRow[] = [];
  const survivorSlots: number[] = [];
  const visit = (row: LogRow): void => {
    const pk = row[0];
    const cl = row[4];
    let slot = states.slots.get(pk);
    const newest = slot === undefined;
    if (slot === undefined) {
      slot = states.add(pk, cl);
      if (row[3] === OP.delete) {
        row[5] = row[6] = 0;
        survivors.push(row);
        survivorSlots.push(slot);
        states.flags[slot] = DONE;
        return;
      }
    }
    const flags = states.flags[slot]!;
    if ((flags & DONE) !== 0) return;
    if (cl < states.cl[slot]!) {
      states.flags[slot] = flags | DONE;
      return;
    }
    const lo = row[5];
    const hi = row[6];
    const seenLo = states.lo[slot]!;
    const seenHi = states.hi[slot]!;
    const freshLo = lo & liveLo & ~seenLo;
    const freshHi = hi & liveHi & ~seenHi;
    const allLo = (states.lo[slot] = seenLo | lo);
    const allHi = (states.hi[slot] = seenHi | hi);
    let next = flags;
    if ((allLo & liveLo) === liveLo && (allHi & liveHi) === liveHi) next |= DONE;
    // The row's newest entry travels even when it sets no column (a row created with its key
    // alone, or with columns all dropped since): it carries the row's existence and causal length.
    if (freshLo === 0 && freshHi === 0 && !newest) {
      states.flags[slot] = next;
      return;
    }
    if ((next & WANTED) === 0) {
      next |= WANTED;
      states.needed.push(pk);
    }
    states.flags[slot] = next;
    row[5] = freshLo;
    row[6] = freshHi;
    survivors.push(row);
    survivorSlots.push(slot);
  };
  for (let top = upTo; ; ) {
    const [json, lowest] = scanChunk.values(table.id, from, top)[0] as [string, bigint | null];
    const rows = JSON.parse(json) as LogRow[];
    for (const row of rows) {
      const more = row[7];
      visit(row);
      // The groups of one log row share its causal length and op, and cover disjoint columns.
      if (more !== undefined) forEachClockGroup(bytesFromHex(more), (hlc, site, lo, hi) => visit([row[0], hlc, site, row[3], row[4], lo, hi]));
    }
    if (rows.length < SCAN_CHUNK) break;
    top = lowest! - 1n;
  }

  readValues(raw, table, states);
  // Survivors of one row come out side by side, oldest first: they join into one entry, a group
  // per surviving log row (or clock group of one).
  const names = live.map((name) => ({ name, proto: name === '__proto__' }));
  let current: OplogEntry | undefined;
  let currentSlot = -1;
  let lastSite = -1;
  let lastDevice = '';
  for (const s of rowByRow(survivorSlots, states.count)) {
    const survivor = survivors[s]!;
    const cl = survivor[4];
    const slot = survivorSlots[s]!;
    // Only a log written before the bound existed holds more (a hostile entry, then a local
    // delete): no peer accepts it, so it stays here rather than stop everything after it.
    if (cl > MAX_CAUSAL_LENGTH) {
      current = undefined;
      continue;
    }
    const site = survivor[2];
    if (site !== lastSite) {
      lastDevice = sites.device(site);
      lastSite = site;
    }
    if (survivor[3] === OP.delete) {
      out.push({ table: table.name, pk: survivor[0], cl, groups: [{ hlc: survivor[1], device: lastDevice, values: {} }] });
      current = undefined;
      continue;
    }
    const row = states.values[slot];
    // Logged as alive but the row is gone: it was deleted while capture was not installed.
    if (!row) continue;
    const lo = survivor[5];
    const hi = survivor[6];
    const picked: Record<string, SqlValue> = {};
    let cells = 0;
    for (let i = 0; i < names.length; i++) {
      const bit = bits[i]!;
      const set = bit < LOW_BITS ? lo & (1 << bit) : hi & (1 << (bit - LOW_BITS));
      if (set === 0) continue;
      const { name, proto } = names[i]!;
      const value = fromSqlite(row[i + 1]);
      if (proto) setOwn(picked, name, value);
      else picked[name] = value;
      cells++;
    }
    const group: CellGroup = { hlc: survivor[1], device: lastDevice, values: picked };
    if (current !== undefined && currentSlot === slot && current.cl === cl) {
      // A group that sets no column only stands alone: it carries the row's existence, which the
      // other groups carry as well.
      if (cells === 0) continue;
      const groups = current.groups;
      if (groups.length === 1 && emptyGroup(groups[0]!)) groups[0] = group;
      else groups.push(group);
      continue;
    }
    current = { table: table.name, pk: survivor[0], cl, groups: [group] };
    currentSlot = slot;
    out.push(current);
  }
}

function emptyGroup(group: CellGroup): boolean {
  for (const _ in group.values) return false;
  return true;
}

/**
 * The survivors' order of output: each row's entries together and oldest first (merge then finds a
 * row's entries side by side), rows in the order of their oldest entry, so rows come in the order
 * they were written (for time-ordered keys, key order: the receiver's inserts stay sequential).
 * `slots` is in scan order (newest first); a counting sort by the row's rank.
 */
function rowByRow(slots: readonly number[], slotCount: number): Int32Array {
  const rank = new Int32Array(slotCount).fill(-1);
  const start = new Int32Array(slotCount);
  let rows = 0;
  for (let s = slots.length - 1; s >= 0; s--) {
    const slot = slots[s]!;
    if (rank[slot]! < 0) rank[slot] = rows++;
    start[rank[slot]!]! += 1;
  }
  let at = 0;
  for (let r = 0; r < rows; r++) {
    const count = start[r]!;
    start[r] = at;
    at += count;
  }
  const order = new Int32Array(slots.length);
  for (let s = slots.length - 1; s >= 0; s--) order[start[rank[slots[s]!]!]!++] = s;
  return order;
}

/**
 * Reads the live values of the needed rows into their slots, in liveColumns order after the key:
 * looked up by key, or, when most of the table is wanted (an initial sync), in one pass over it.
 */
function readValues(raw: SqliteConnection, table: CapturedTable, states: RowStates): void {
  const keys = states.needed;
  if (keys.length === 0) return;
  const pk = quoteIdent(table.pkColumn);
  const select = `SELECT ${pk}${table.liveColumns.map((c) => `, ${quoteIdent(c)}`).join('')} FROM ${quoteIdent(table.name)}`;
  const keep = (row: unknown[]) => {
    const slot = states.slots.get(row[0] as string);
    if (slot !== undefined && (states.flags[slot]! & WANTED) !== 0) states.values[slot] = row;
  };
  if (keys.length >= WHOLE_TABLE_MIN_KEYS && keys.length * 2 >= Number(raw.cached(`SELECT count(*) FROM ${quoteIdent(table.name)}`).value())) {
    for (const row of raw.cached(select).values() as unknown[][]) keep(row);
    return;
  }
  const query = raw.cached(`${select} WHERE ${pk} IN (SELECT value FROM json_each(?))`);
  for (let start = 0; start < keys.length; start += VALUE_CHUNK) {
    for (const row of query.values(JSON.stringify(keys.slice(start, start + VALUE_CHUNK))) as unknown[][]) keep(row);
  }
}
