/**
 * getOplogEntriesSince: what this database holds that a peer at `since` lacks. Entries superseded
 * by later ones (a cell written again, a row deleted) are left out; values are read from the live
 * row, so the log stores clocks, not copies of the data.
 */
import type { Database } from 'better-sqlite3';
import { InvalidCursorError } from '../errors.ts';
import { refreshCapture } from '../capture/install.ts';
import { loadCatalog, type CapturedTable } from '../capture/metadata.ts';
import { OP, OP_NAMES, quoteIdent } from '../capture/sql.ts';
import type { OplogEntry } from './entry.ts';
import { SiteTable } from './sites.ts';
import { cachedStatement } from './statements.ts';
import { fromSqlite, type SqlValue } from './values.ts';
import { clientOf, type DatabaseHandle } from '../database/handle.ts';

export interface OplogExport {
  /** In an order that is safe to apply: each row's entries in the order this database logged them, table by table. */
  entries: OplogEntry[];
  /** Pass back as `since` to get only what is newer. Opaque. */
  cursor: string;
}

export interface ExportOptions {
  /** Stop after about this many entries (the cursor then points inside the log). @default unlimited */
  limit?: number;
}

export function getOplogEntriesSince(db: DatabaseHandle, since?: string, options: ExportOptions = {}): OplogExport {
  const raw = clientOf(db);
  const from = parseCursor(since);
  if (loadCatalog(raw).stale) refreshCapture(raw);
  return raw.transaction(() => exportFrom(raw, from, options.limit))();
}

export function parseCursor(cursor: string | undefined): bigint {
  if (cursor === undefined || cursor === '') return 0n;
  if (typeof cursor !== 'string' || !/^(0|[1-9][0-9]{0,18})$/.test(cursor)) throw new InvalidCursorError(`not an oplog cursor: ${String(cursor).slice(0, 40)}`);
  const value = BigInt(cursor);
  if (value >= 2n ** 63n) throw new InvalidCursorError('oplog cursor out of range');
  return value;
}

function exportFrom(raw: Database, from: bigint, limit: number | undefined): OplogExport {
  const catalog = loadCatalog(raw);
  const sites = new SiteTable(raw);
  // With a limit, export a seq window [from, to] so the cursor can resume exactly after it.
  let to: bigint | undefined;
  if (limit !== undefined) {
    const row = cachedStatement(raw, 'SELECT seq FROM ahenk_oplog WHERE seq > ? ORDER BY seq LIMIT 1 OFFSET ?').pluck().safeIntegers(true).get(from, Math.max(0, limit - 1)) as bigint | undefined;
    to = row;
  }
  const maxSeq = (cachedStatement(raw, 'SELECT max(seq) FROM ahenk_oplog').pluck().safeIntegers(true).get() as bigint | null) ?? 0n;
  const upTo = to ?? maxSeq;
  // Entries of a row stay in log order; rows of different tables are independent, so the tables
  // can simply follow one another (each table's scan runs newest first, hence the reverse).
  const entries: OplogEntry[] = [];
  for (const table of catalog.byId.values()) {
    const own: OplogEntry[] = [];
    exportTable(raw, table, sites, from, upTo, own);
    for (let i = own.length - 1; i >= 0; i--) entries.push(own[i]!);
  }
  const cursor = upTo > from ? upTo : from;
  return { entries, cursor: cursor.toString() };
}

/** A surviving log entry before its values are read: masks split in two 31-bit halves, stamps as hex. */
interface Survivor {
  hlc: string;
  site: number;
  op: number;
  cl: number;
  pk: string;
  lo: number;
  hi: number;
}

const LOW_BITS = 31;
/** Keys per value query; json_each keeps the statement text fixed. */
const VALUE_CHUNK = 1000;
/** From this many rows wanted, reading the whole table can beat looking each one up. */
const WHOLE_TABLE_MIN_KEYS = 5000;

function exportTable(raw: Database, table: CapturedTable, sites: SiteTable, from: bigint, upTo: bigint, out: OplogEntry[]): void {
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
  const scan = cachedStatement(
    raw,
    `SELECT printf('%016x', coalesce(hlc, seq)), site, op, cl, cols & 2147483647, (cols >> ${LOW_BITS}) & 2147483647, pk
     FROM ahenk_oplog WHERE tbl = ? AND seq > ? AND seq <= ? ORDER BY seq DESC`,
  )
    .raw(true)
    .safeIntegers(false);

  // Newest first: the first entry seen for a row fixes its causal length; older entries only
  // contribute columns nothing newer has covered.
  const states = new Map<string, { cl: number; lo: number; hi: number; done: boolean }>();
  const survivors: Survivor[] = [];
  const needed = new Set<string>();
  for (const [hlc, site, op, cl, lo, hi, pk] of scan.all(table.id, from, upTo) as [string, number, number, number, number, number, string][]) {
    let state = states.get(pk);
    if (!state) {
      state = { cl, lo: 0, hi: 0, done: false };
      states.set(pk, state);
      if (op === OP.delete) {
        survivors.push({ hlc, site, op, cl, pk, lo: 0, hi: 0 });
        state.done = true;
        continue;
      }
    }
    if (state.done) continue;
    if (cl < state.cl) {
      state.done = true;
      continue;
    }
    const freshLo = lo & liveLo & ~state.lo;
    const freshHi = hi & liveHi & ~state.hi;
    state.lo |= lo;
    state.hi |= hi;
    if ((state.lo & liveLo) === liveLo && (state.hi & liveHi) === liveHi) state.done = true;
    // An insert of a row with no columns besides its key still has to travel.
    if (freshLo === 0 && freshHi === 0 && !(op === OP.insert && live.length === 0)) continue;
    survivors.push({ hlc, site, op, cl, pk, lo: freshLo, hi: freshHi });
    needed.add(pk);
  }

  const values = readValues(raw, table, needed);
  for (const s of survivors) {
    if (s.op === OP.delete) {
      out.push(makeEntry(table, s, 'delete', {}, sites));
      continue;
    }
    const row = values.get(s.pk);
    // Logged as alive but the row is gone: it was deleted while capture was not installed.
    if (!row) continue;
    const picked: Record<string, SqlValue> = {};
    for (let i = 0; i < live.length; i++) {
      const bit = bits[i]!;
      const set = bit < LOW_BITS ? s.lo & (1 << bit) : s.hi & (1 << (bit - LOW_BITS));
      if (set !== 0) picked[live[i]!] = fromSqlite(row[i + 1]);
    }
    out.push(makeEntry(table, s, OP_NAMES[s.op]!, picked, sites));
  }
}

/**
 * The live values of the given rows, in liveColumns order, keyed by primary key: looked up by key,
 * or, when most of the table is wanted (an initial sync), read in one pass over the table.
 */
function readValues(raw: Database, table: CapturedTable, pks: ReadonlySet<string>): Map<string, unknown[]> {
  const rows = new Map<string, unknown[]>();
  if (pks.size === 0) return rows;
  const pk = quoteIdent(table.pkColumn);
  const select = `SELECT ${pk}${table.liveColumns.map((c) => `, ${quoteIdent(c)}`).join('')} FROM ${quoteIdent(table.name)}`;
  const keep = (row: unknown[]) => rows.set(row[0] as string, row);
  if (pks.size >= WHOLE_TABLE_MIN_KEYS && pks.size * 2 >= (cachedStatement(raw, `SELECT count(*) FROM ${quoteIdent(table.name)}`).pluck().safeIntegers(false).get() as number)) {
    for (const row of cachedStatement(raw, select).raw(true).safeIntegers(true).all() as unknown[][]) if (pks.has(row[0] as string)) keep(row);
    return rows;
  }
  const query = cachedStatement(raw, `${select} WHERE ${pk} IN (SELECT value FROM json_each(?))`).raw(true).safeIntegers(true);
  const keys = [...pks];
  for (let start = 0; start < keys.length; start += VALUE_CHUNK) {
    for (const row of query.all(JSON.stringify(keys.slice(start, start + VALUE_CHUNK))) as unknown[][]) keep(row);
  }
  return rows;
}

function makeEntry(table: CapturedTable, s: Survivor, op: OplogEntry['op'], values: Record<string, SqlValue>, sites: SiteTable): OplogEntry {
  return { table: table.name, pk: s.pk, op, hlc: s.hlc, device: sites.device(s.site), cl: s.cl, values };
}
