/**
 * Log compaction: drops the oplog entries no export and no merge can need any more, so the log of
 * a row that is updated over and over stays bounded by its number of columns, not its history.
 *
 * An entry of a row is superseded when
 * - the row has a higher causal length (a delete or re-insert ended the incarnation it belongs to), or
 * - it is not the row's newest entry and every column it set was set again by a newer entry of the
 *   same incarnation. Within one incarnation, log order is register order for every cell (triggers
 *   stamp above everything logged or received; merge logs only winners), so "newer in the log"
 *   means "wins". An insert's all-columns mask also covers columns added later, so only another
 *   all-columns entry supersedes it. A row with several clock groups goes only when all of them do.
 *
 * Export skips superseded entries anyway and merge never compares against them, so dropping them
 * changes no export (from any cursor) and no merge decision; the row's newest entry, which carries
 * its causal length, always stays. Incremental: only rows written since the last compaction are
 * examined.
 */
import type { SqliteConnection } from '../sqlite/index.ts';
import { connectionOf, type DatabaseHandle } from '../sqlite/index.ts';
import { decodeClockGroups } from './clock-groups.ts';
import { foldOplog } from './fold.ts';
import { overBothIndexesByKeys } from './log-index.ts';
import { historyKeyLists, keyTextSql } from './log-key.ts';

export interface CompactionOptions {
  /** Examine every row, not only those written since the last compaction. @default false */
  full?: boolean;
  /**
   * Look at the rows of at most this many log entries past the watermark, then stop (call again
   * to go on): keeps each run's write lock short on a large log. Not with `full`. @default unlimited
   */
  maxEntries?: number;
}

export interface CompactionReport {
  /** Rows (table, key) whose entries were examined. */
  rows: number;
  /** Log entries dropped. */
  removed: number;
  /** Every entry up to the end of the log has been looked at (false: call again). */
  done: boolean;
}

/** Keys per lookup and seqs per delete: json_each keeps the statement texts fixed. */
const CHUNK = 500;

export function compactOplog(db: DatabaseHandle, options: CompactionOptions = {}): CompactionReport {
  const raw = connectionOf(db);
  const { maxEntries } = options;
  if (maxEntries !== undefined && (!Number.isSafeInteger(maxEntries) || maxEntries < 1)) throw new RangeError(`maxEntries must be a positive integer, got ${maxEntries}`);
  // A full run starts from the log's first entry every time: in slices it would never get past the first.
  if (maxEntries !== undefined && options.full === true) throw new RangeError('full and maxEntries do not go together: a full run in slices would start over at every call');
  return raw.withStorageErrors('compacting the log', () => raw.transaction(() => compactIn(raw, options.full === true, maxEntries)));
}

function compactIn(raw: SqliteConnection, full: boolean, maxEntries: number | undefined): CompactionReport {
  // Rows the fold joins count as removed: the log holds that many rows fewer.
  const { joined } = foldOplog(raw);
  const since = full ? 0n : (raw.prepare('SELECT compacted FROM ahenk_clock WHERE id = 0').value() as bigint);
  const last = (raw.prepare('SELECT coalesce(max(seq), 0) FROM ahenk_oplog').value() as bigint) ?? 0n;
  const windowEnd =
    maxEntries === undefined ? undefined : (raw.prepare('SELECT seq FROM ahenk_oplog WHERE seq > ? ORDER BY seq LIMIT 1 OFFSET ?').value(since, maxEntries - 1) as bigint | undefined);
  const top = windowEnd ?? last;
  const touched = new Map<number, string[]>();
  // Keys as text: a row's entries may hold its key in either form (log-key.ts).
  for (const [tbl, pk] of raw.prepare(`SELECT DISTINCT tbl, ${keyTextSql('pk')} FROM ahenk_oplog WHERE seq > ? AND seq <= ?`, { integers: 'number' }).iterateValues(since, top) as IterableIterator<[number, string]>) {
    let keys = touched.get(tbl);
    if (!keys) touched.set(tbl, (keys = []));
    keys.push(pk);
  }
  const entriesOf = raw
    .prepare(`SELECT ${keyTextSql('pk')} AS key, seq, cl, cols, more FROM (${overBothIndexesByKeys('SELECT pk, seq, cl, cols, more FROM ahenk_oplog')}) ORDER BY key, seq DESC`);
  const drop = raw.prepare('DELETE FROM ahenk_oplog WHERE seq IN (SELECT value FROM json_each(?))');
  let rows = 0;
  let removed = joined;
  const dead: bigint[] = [];
  const flush = () => {
    for (let start = 0; start < dead.length; start += CHUNK) removed += Number(drop.run(`[${dead.slice(start, start + CHUNK).join(',')}]`).changes);
    dead.length = 0;
  };
  for (const [tbl, keys] of touched) {
    rows += keys.length;
    for (let start = 0; start < keys.length; start += CHUNK) {
      let current: string | undefined;
      let history: LogEntry[] = [];
      const slice = keys.slice(start, start + CHUNK);
      const { packed, text } = historyKeyLists(slice);
      for (const [pk, seq, cl, cols, more] of entriesOf.iterateValues(tbl, JSON.stringify(slice), tbl, packed, text) as IterableIterator<[string, bigint, bigint, bigint, Uint8Array | null]>) {
        if (pk !== current) {
          supersededIn(history, dead);
          history = [];
          current = pk;
        }
        history.push({ seq, cl, mask: more ? maskWithGroups(cols, more) : cols });
      }
      supersededIn(history, dead);
      if (dead.length >= CHUNK) flush();
    }
  }
  flush();
  // A full run re-examined old rows; the watermark never moves back.
  raw.prepare('UPDATE ahenk_clock SET compacted = max(compacted, ?) WHERE id = 0').run(top);
  return { rows, removed, done: top >= last };
}

interface LogEntry {
  seq: bigint;
  cl: bigint;
  /** Columns the entry set, all its clock groups together (-1: every column, present and future). */
  mask: bigint;
}

/** Adds to `dead` the superseded entries of one row, given newest first. */
function supersededIn(history: readonly LogEntry[], dead: bigint[]): void {
  if (history.length < 2) return;
  let rowCl = 0n;
  for (const entry of history) if (entry.cl > rowCl) rowCl = entry.cl;
  let covered = 0n;
  let newest = true;
  for (const [i, entry] of history.entries()) {
    // The row's newest entry always stays, whatever its causal length: it may be the log's
    // highest seq, and max(seq) must never go down (triggers stamp above it, cursors pass it).
    if (entry.cl < rowCl) {
      if (i > 0) dead.push(entry.seq);
      continue;
    }
    // With -1 for "all columns", mask & ~covered is 0 only when covered is all ones too.
    if (!newest && (entry.mask & ~covered) === 0n) dead.push(entry.seq);
    covered |= entry.mask;
    newest = false;
  }
}

function maskWithGroups(cols: bigint, more: Uint8Array): bigint {
  let mask = cols;
  // A joined insert's group holds every column but those newer groups set, as 64 bits: signed,
  // so that together they make -1 ("every column, present and future") again.
  for (const group of decodeClockGroups(more)) mask |= BigInt.asIntN(64, group.mask);
  return mask;
}
