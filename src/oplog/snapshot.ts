/**
 * A snapshot: everything this database holds, in key order, table by table, in windows. What an
 * export from the start gives (the same entries), but ordered so that a peer that holds nothing
 * yet writes each of its tables front to back. An export from a cursor gives rows in the order
 * they were written, so with random keys (UUIDv4) every window lands all over the receiver's
 * tables and indexes, and every commit writes their pages again (docs/decisions.md, "Why random
 * keys cost the receiver more"); in key order a commit writes the pages of one stretch of the
 * table, once.
 *
 * A window reads a stretch of a table's rows by key, with their history from the (tbl, pk)
 * indexes and the unfolded tail, and passes it through the export's scan (export-rows.ts). After a
 * table's rows come its deleted rows (tombstones: keys of the causal-length index no longer in the
 * table), also in key order. Each window is its own read transaction: a write between two windows
 * is either in a later window (its row comes later in key order) or in the log after the
 * position the snapshot began at (`beginSnapshot`), which the peer then reads as usual; a row sent
 * twice merges to the same state.
 */
import { DatabaseError } from '../errors.ts';
import { quoteIdent, type SqliteConnection } from '../sqlite/index.ts';
import { loadCatalog, tableExists, type CapturedTable } from './catalog.ts';
import { forEachClockGroup } from './clock-groups.ts';
import type { OplogEntry } from './entry.ts';
import { buildEntries, selectValues } from './export.ts';
import { LOW_BITS, TableScan } from './export-rows.ts';
import { foldOplog } from './fold.ts';
import { CL_INDEXED, HISTORY_INDEXED } from './log-index.ts';
import { isCanonicalUuid, keyFromLog } from './log-key.ts';
import { SiteTable } from './sites.ts';

/** Where a snapshot stands: the table (by id) and, within it, the phase and the last key sent. */
export interface SnapshotPosition {
  readonly table: number;
  /** Past the table's rows, in its deleted rows. */
  readonly tombstones: boolean;
  /**
   * The last key sent in this table and phase, as the table holds it (text, or a number where the
   * key column's affinity made one of '123'); undefined at its start.
   */
  readonly after: string | number | bigint | undefined;
}

export interface SnapshotWindow {
  /** Row deltas in key order, table by table; a table's deleted rows after its rows. */
  entries: OplogEntry[];
  /** Where the next window starts; undefined once every table is sent. */
  next: SnapshotPosition | undefined;
}

/**
 * Folds the log's tail into the (tbl, pk) indexes, so each window finds a row's history by its key
 * (what the fold leaves unfolded is only what is written after it), and returns the log's position
 * now: once the peer has every window, it holds the log up to there. Takes the write lock briefly.
 */
export function beginSnapshot(raw: SqliteConnection): bigint {
  return raw.transaction(() => {
    foldOplog(raw);
    return (raw.cached('SELECT max(seq) FROM ahenk_oplog').value() as bigint | null) ?? 0n;
  });
}

/** About `limit` entries from `at` (undefined: the start), in one read transaction. */
export function exportSnapshotWindow(raw: SqliteConnection, at: SnapshotPosition | undefined, limit: number): SnapshotWindow {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`a snapshot window holds at least one entry, not ${limit}`);
  return raw.transaction(() => windowFrom(raw, at, limit), 'deferred');
}

function windowFrom(raw: SqliteConnection, at: SnapshotPosition | undefined, limit: number): SnapshotWindow {
  const catalog = loadCatalog(raw);
  const sites = new SiteTable(raw);
  const ids = [...catalog.byId.keys()].sort((a, b) => a - b);
  const entries: OplogEntry[] = [];
  let position: SnapshotPosition | undefined = at ?? (ids.length > 0 ? { table: ids[0]!, tombstones: false, after: undefined } : undefined);
  while (position !== undefined && entries.length < limit) {
    // The table, or the next one if it is gone (a migration between windows dropped it).
    const { table: id } = position;
    const table = ids.includes(id) ? catalog.byId.get(id)! : undefined;
    const wanted = limit - entries.length;
    const read = table !== undefined && tableExists(raw, table.name) ? stretch(raw, table, position, wanted, sites, entries) : undefined;
    if (read !== undefined && read.count === wanted) {
      // A key a driver cannot give back exactly (node:sqlite ends text at a NUL) would be read
      // again and again: fail rather than loop.
      if (read.last === position.after) throw new DatabaseError(`the snapshot of ${table!.name} does not move past a key its driver cannot read back exactly`);
      position = { table: id, tombstones: position.tombstones, after: read.last };
    } else if (read !== undefined && !position.tombstones) {
      position = { table: id, tombstones: true, after: undefined };
    } else {
      const following = ids.find((other) => other > id);
      position = following === undefined ? undefined : { table: following, tombstones: false, after: undefined };
    }
  }
  return { entries, next: position };
}

/**
 * The entries of up to `count` rows (or deleted rows) of `table` after `at.after`, in key order,
 * appended to `out`. Returns how many keys it read (fewer than `count` when the phase is done) and
 * the last one, as the table holds it.
 */
function stretch(raw: SqliteConnection, table: CapturedTable, at: SnapshotPosition, count: number, sites: SiteTable, out: OplogEntry[]): { count: number; last: SnapshotPosition['after'] } {
  const scan = new TableScan(table);
  let keys: string[];
  let last: SnapshotPosition['after'];
  if (!at.tombstones) {
    const pk = quoteIdent(table.pkColumn);
    const select = selectValues(table);
    const rows = (
      at.after === undefined ? raw.cached(`${select} ORDER BY ${pk} LIMIT ?`).values(count) : raw.cached(`${select} WHERE ${pk} > ? ORDER BY ${pk} LIMIT ?`).values(at.after, count)
    ) as unknown[][];
    last = rows.at(-1)?.[0] as SnapshotPosition['after'];
    // The log holds every key as text (its pk column's affinity): a key column of another
    // affinity may give a number, whose history is under its text.
    for (const row of rows) if (typeof row[0] !== 'string') row[0] = String(row[0]);
    scan.states.preload(rows);
    keys = rows.map((row) => row[0] as string);
  } else {
    keys = tombstoneKeys(raw, table, at.after, count);
    last = keys.at(-1);
    for (const key of keys) scan.states.add(key);
  }
  if (keys.length > 0) {
    visitHistories(raw, table, keys, scan);
    if (scan.survivors.count > 0) buildEntries(raw, scan, sites, out, 'key');
  }
  return { count: keys.length, last };
}

/**
 * Keys of the table's causal-length index (deletes and re-inserted rows) that the table no longer
 * holds, after `after`, in key order. Deletes go into that index at once (never the unfolded tail).
 */
function tombstoneKeys(raw: SqliteConnection, table: CapturedTable, after: SnapshotPosition['after'], count: number): string[] {
  const t = quoteIdent(table.name);
  const pk = quoteIdent(table.pkColumn);
  // Compared as the log compares keys (BINARY): under a key column's own collation (NOCASE, say)
  // a deleted 'B-2' would count as present while the table holds 'b-2'. The first test finds the
  // row by the key's index, the second makes it the same key.
  const gone = `tbl = ? AND ${CL_INDEXED} AND NOT EXISTS (SELECT 1 FROM ${t} WHERE ${t}.${pk} = ahenk_oplog.pk AND ${t}.${pk} = ahenk_oplog.pk COLLATE BINARY)`;
  const rows = (
    after === undefined
      ? raw.cached(`SELECT DISTINCT pk FROM ahenk_oplog WHERE ${gone} ORDER BY pk LIMIT ?`).values(table.id, count)
      : raw.cached(`SELECT DISTINCT pk FROM ahenk_oplog WHERE ${gone} AND pk > ? ORDER BY pk LIMIT ?`).values(table.id, after, count)
  ) as [string][];
  return rows.map(([key]) => keyFromLog(key));
}

/** Columns of a history row: as the export's scan reads them (mask halves, stamp as hex). */
const HISTORY_COLUMNS = `seq, pk, printf('%016x', coalesce(hlc, seq)) AS hlc, site, op, cl, cols & 2147483647 AS lo, (cols >> ${LOW_BITS}) & 2147483647 AS hi, more`;

/** The least and greatest key of a JSON list, compared as the log's index compares them (BINARY). */
const KEY_RANGE = 'BETWEEN (SELECT min(value) FROM json_each(?)) AND (SELECT max(value) FROM json_each(?))';

/**
 * Every log row of the keys, newest first. A window's keys are a stretch of the table in key
 * order, so the indexes are read as ranges, not probed key by key: the causal-length index and the
 * history index's text keys between the least and greatest key, the history index's packed UUIDs
 * between the least and greatest UUID (packed, they sort as their text does), and what the fold
 * has not reached. A range can hold keys that are not in the window (rows deleted since, or a key
 * column whose collation orders keys otherwise than the log's index): those are skipped.
 */
function visitHistories(raw: SqliteConnection, table: CapturedTable, keys: readonly string[], scan: TableScan): void {
  const from = `SELECT ${HISTORY_COLUMNS} FROM ahenk_oplog WHERE tbl = ?`;
  const union = [
    `${from} AND pk ${KEY_RANGE} AND ${CL_INDEXED}`,
    `${from} AND pk ${KEY_RANGE} AND typeof(pk) = 'text' AND ${HISTORY_INDEXED}`,
    `${from} AND pk BETWEEN unhex(?) AND unhex(?) AND ${HISTORY_INDEXED}`,
    `${from} AND seq > (SELECT folded FROM ahenk_clock WHERE id = 0) AND ix IS NULL AND pk ${KEY_RANGE}`,
  ].join(' UNION ALL ');
  const query = raw.cached(`SELECT pk, hlc, site, op, cl, lo, hi, more FROM (${union}) ORDER BY seq DESC`, { integers: 'number' });
  const json = JSON.stringify(keys);
  // Canonical UUIDs are ASCII: compared as JS strings they sort as their bytes do.
  let least: string | undefined;
  let greatest: string | undefined;
  for (const key of keys) {
    if (!isCanonicalUuid(key)) continue;
    if (least === undefined || key < least) least = key;
    if (greatest === undefined || key > greatest) greatest = key;
  }
  const packed = (key: string | undefined) => (key === undefined ? null : key.replaceAll('-', ''));
  const id = table.id;
  const rows = query.iterateValues(id, json, json, id, json, json, id, packed(least), packed(greatest), id, json, json) as IterableIterator<
    [string | Uint8Array, string, number, number, number, number, number, Uint8Array | null]
  >;
  const { slots } = scan.states;
  for (const [logKey, hlc, site, op, cl, lo, hi, more] of rows) {
    const pk = keyFromLog(logKey);
    if (!slots.has(pk)) continue;
    scan.visit(pk, hlc, site, op, cl, lo, hi);
    if (more !== null) forEachClockGroup(more, (groupHlc, groupSite, groupLo, groupHi) => scan.visit(pk, groupHlc, groupSite, op, cl, groupLo, groupHi));
  }
}
