/**
 * Export: what this database holds that a peer at a cursor lacks. Entries superseded
 * by later ones (a cell written again, a row deleted) are left out; values are read from the live
 * row, so the log stores clocks, not copies of the data.
 */
import { quoteIdent, type SqliteConnection } from '../sqlite/index.ts';
import { loadCatalog, tableExists, type CapturedTable } from './catalog.ts';
import { OP } from './format.ts';
import { MAX_CAUSAL_LENGTH, type CellGroup, type OplogEntry } from './entry.ts';
import { SiteTable } from './sites.ts';
import { bytesFromHex, forEachClockGroup } from './clock-groups.ts';
import { fromSqlite, setOwn, type SqlValue } from '../sqlite/values.ts';
import { LOW_BITS, TableScan, WANTED, type RowStates } from './export-rows.ts';
import { uuidOfHex } from './log-key.ts';

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
  const scans = new Map<number, TableScan>();
  for (const table of catalog.byId.values()) scans.set(table.id, new TableScan(table));
  preloadLargeWindows(raw, from, upTo, scans);
  scanLog(raw, from, upTo, scans);
  // Entries of a row stay in log order; rows (of one table or of different tables) are
  // independent, so the tables simply follow one another.
  const entries: OplogEntry[] = [];
  for (const scan of scans.values()) if (scan.survivors.count > 0) buildEntries(raw, scan, sites, entries);
  const cursor = upTo > from ? upTo : from;
  return { entries, cursor: cursor.toString() };
}

/**
 * A scanned log row: table id (plus PACKED_MARK for a packed key, which then comes as its hex), key, stamp
 * as hex, site, op, causal length, the mask's two 31-bit halves; then, for a log row with extra
 * clock groups, those as hex.
 */
type LogRow = [tbl: number, pk: string, hlc: string, site: number, op: number, cl: number, lo: number, hi: number, more?: string];

/** Log rows per scanned chunk (one JSON text of about 80 bytes a row). */
const SCAN_CHUNK = 20_000;
/** Keys per value query; json_each keeps the statement text fixed. */
const VALUE_CHUNK = 1000;
/** From this many rows wanted, reading the whole table can beat looking each one up. */
const WHOLE_TABLE_MIN_KEYS = 5000;

/** Added to a scanned row's table id when its key is packed: far above any table id (see scanLog). */
const PACKED_MARK = 2 ** 40;

/**
 * Reads the log window (from, upTo] once, newest first, every table's rows together; rows of a
 * table the catalog does not know (dropped since) are skipped. Stamps come out as the hex text
 * entries carry and masks as two small halves, so the scan allocates no BigInts; only the values
 * (read once per row later) need exact 64-bit integers. Each chunk of log rows comes as one JSON
 * array: one JSON.parse costs far less than a driver's row per log row. The subquery's ORDER BY
 * with LIMIT is not flattened, so the aggregate takes the rows newest first
 * (test/merge/export-scan.test.ts holds it to that). A log row without extra clock groups (every
 * local write) leaves the last field out.
 */
function scanLog(raw: SqliteConnection, from: bigint, upTo: bigint, scans: ReadonlyMap<number, TableScan>): void {
  // A packed key (log-key.ts) comes as its hex, its table id raised by PACKED_MARK (ids are small,
  // and -1 is a system table's): JSON holds no blob, and the UUID's dashes cost less in JS than in SQL.
  const fields = `iif(typeof(pk) = 'blob', tbl + ${PACKED_MARK}, tbl), iif(typeof(pk) = 'blob', hex(pk), pk), printf('%016x', coalesce(hlc, seq)), site, op, cl, cols & 2147483647, (cols >> ${LOW_BITS}) & 2147483647`;
  const columns = `CASE WHEN more IS NULL THEN json_array(${fields}) ELSE json_array(${fields}, hex(more)) END`;
  const window = `SELECT seq, hlc, site, tbl, op, cl, cols, pk, more FROM ahenk_oplog WHERE seq > ? AND seq <= ? ORDER BY seq DESC LIMIT ${SCAN_CHUNK}`;
  // The chunk's lowest seq comes with it: the next chunk ends just below.
  const scanChunk = raw.cached(`SELECT json_group_array(${columns}), min(seq) FROM (${window})`);
  let lastTbl: number | undefined;
  let scan: TableScan | undefined;
  for (let top = upTo; top > from; ) {
    const [json, lowest] = scanChunk.values(from, top)[0] as [string, bigint | null];
    const rows = JSON.parse(json) as LogRow[];
    for (const [tblOrPacked, logKey, hlc, site, op, cl, lo, hi, more] of rows) {
      let tbl = tblOrPacked;
      let pk = logKey;
      if (tbl >= PACKED_MARK / 2) {
        tbl -= PACKED_MARK;
        pk = uuidOfHex(logKey);
      }
      if (tbl !== lastTbl) {
        scan = scans.get(tbl);
        lastTbl = tbl;
      }
      if (scan === undefined) continue;
      scan.visit(pk, hlc, site, op, cl, lo, hi);
      if (more === undefined) continue;
      const into = scan;
      forEachClockGroup(bytesFromHex(more), (groupHlc, groupSite, groupLo, groupHi) => into.visit(pk, groupHlc, groupSite, op, cl, groupLo, groupHi));
    }
    if (rows.length < SCAN_CHUNK) break;
    top = lowest! - 1n;
  }
}

/**
 * When the window holds at least half as many log rows as a table has rows (an initial sync, a
 * peer far behind), that table's values are read in one pass before the scan (RowStates.preload).
 * The window is counted only up to what decides it, and tables only for a window of some size, so a
 * small export (live sync) pays a walk of at most WHOLE_TABLE_MIN_KEYS log rows for this.
 */
function preloadLargeWindows(raw: SqliteConnection, from: bigint, upTo: bigint, scans: ReadonlyMap<number, TableScan>): void {
  const windowRows = raw.cached('SELECT count(*) FROM (SELECT 1 FROM ahenk_oplog WHERE seq > ? AND seq <= ? LIMIT ?)', { integers: 'number' });
  if ((windowRows.value(from, upTo, WHOLE_TABLE_MIN_KEYS) as number) < WHOLE_TABLE_MIN_KEYS) return;
  const sizes = new Map<TableScan, number>();
  // A table dropped since capture knew it has no values to read (its log rows are skipped later).
  for (const scan of scans.values()) if (tableExists(raw, scan.table.name)) sizes.set(scan, raw.cached(`SELECT count(*) FROM ${quoteIdent(scan.table.name)}`, { integers: 'number' }).value() as number);
  if (sizes.size === 0) return;
  const largest = Math.max(...sizes.values());
  const inWindow = windowRows.value(from, upTo, Math.ceil(largest / 2)) as number;
  for (const [scan, rows] of sizes) if (inWindow * 2 >= rows) scan.states.preload(raw.cached(selectValues(scan.table)).values() as unknown[][]);
}

/** The table's key and live columns, in that order (RowStates.values). */
export function selectValues(table: CapturedTable): string {
  return `SELECT ${quoteIdent(table.pkColumn)}${table.liveColumns.map((c) => `, ${quoteIdent(c)}`).join('')} FROM ${quoteIdent(table.name)}`;
}

/**
 * The entries of one table's survivors. Survivors of one row come out side by side, oldest
 * first: they join into one entry, a group per surviving log row (or clock group of one). Rows
 * come in the order of their oldest survivor ('written'), or of their slots ('key': a snapshot
 * gives slots in key order).
 */
export function buildEntries(raw: SqliteConnection, scan: TableScan, sites: SiteTable, out: OplogEntry[], order: 'written' | 'key' = 'written'): void {
  const { table, states, survivors, bits } = scan;
  readValues(raw, table, states);
  const names = table.liveColumns.map((name) => ({ name, proto: name === '__proto__' }));
  let current: OplogEntry | undefined;
  let currentSlot = -1;
  /** The current entry's only group sets no column (see below). */
  let currentBare = false;
  let lastSite = -1;
  let lastDevice = '';
  for (const s of order === 'key' ? survivors.bySlot(states.count) : survivors.rowByRow(states.count)) {
    const cl = survivors.cl[s]!;
    const slot = survivors.slot[s]!;
    const pk = states.keys[slot]!;
    // Only a log written before the bound existed holds more (a hostile entry, then a local
    // delete): no peer accepts it, so it stays here rather than stop everything after it.
    if (cl > MAX_CAUSAL_LENGTH) {
      current = undefined;
      continue;
    }
    const site = survivors.site[s]!;
    if (site !== lastSite) {
      lastDevice = sites.device(site);
      lastSite = site;
    }
    const hlc = survivors.hlc[s]!;
    if (survivors.op[s] === OP.delete) {
      out.push({ table: table.name, pk, cl, groups: [{ hlc, device: lastDevice, values: {} }] });
      current = undefined;
      continue;
    }
    const row = states.values[slot];
    // Logged as alive but the row is gone: it was deleted while capture was not installed.
    if (!row) continue;
    const lo = survivors.lo[s]!;
    const hi = survivors.hi[s]!;
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
    const group: CellGroup = { hlc, device: lastDevice, values: picked };
    if (current !== undefined && currentSlot === slot && current.cl === cl) {
      // A group that sets no column only stands alone: it carries the row's existence, which the
      // other groups carry as well.
      if (cells === 0) continue;
      const groups = current.groups;
      if (currentBare) groups[0] = group;
      else groups.push(group);
      currentBare = false;
      continue;
    }
    current = { table: table.name, pk, cl, groups: [group] };
    currentSlot = slot;
    currentBare = cells === 0;
    out.push(current);
  }
}

/**
 * Reads the live values of the needed rows into their slots, in liveColumns order after the key:
 * looked up by key, or, when most of the table is wanted (an initial sync), in one pass over it.
 */
function readValues(raw: SqliteConnection, table: CapturedTable, states: RowStates): void {
  const keys = states.needed;
  if (keys.length === 0) return;
  const pk = quoteIdent(table.pkColumn);
  const select = selectValues(table);
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
