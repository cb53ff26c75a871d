/**
 * Folding: puts the local inserts and updates that triggers appended unindexed into the (tbl, pk)
 * indexes (log-index.ts), in one statement over the log's tail. Merge folds before it looks rows up, so a write pays
 * for the index only when a peer's change actually needs it, and then in bulk.
 *
 * Before it indexes them, the fold joins a row's unindexed local entries (an insert and its later
 * updates, logged as separate rows by the triggers) into one log row with clock groups, the way
 * merge logs a row (clock-groups.ts): the newest entry keeps its own columns (a local row's stamp
 * is its seq), the older ones go to `more`, each with only the columns no newer one set again (a
 * group that keeps none is superseded and goes). One log row and one index entry per row instead
 * of one per write.
 *
 * A joined row sits at its newest entry's seq, so an export from a cursor between the joined
 * entries would send the older cells again (harmless for merge: same stamps, nothing changes, but
 * not what the log said before). So the fold only joins entries at or below every known peer's
 * acknowledged position (ahenk_cursors.acked; a peer that has not acknowledged yet stops every
 * join), where no peer's cursor can lie between them; with no peer at all, every entry qualifies
 * (a first sync starts from nothing). It joins only rows whose every log row in the tail is an
 * unindexed local write: a delete or a merged row of the same key in between stays between.
 */
import type { SqliteConnection } from '../sqlite/index.ts';
import { encodeClockGroups, type ClockGroup } from './clock-groups.ts';
import { ixOf } from './log-index.ts';
import { keyTextSql, packKeySql } from './log-key.ts';

/** Log rows per rewrite statement (json_each keeps the statement texts fixed). */
const CHUNK = 500;

export interface FoldReport {
  /** Log rows put in an index. */
  indexed: number;
  /** Log rows removed: joined into a newer entry of their row, or superseded within it. */
  joined: number;
}

/** Joins and indexes every entry logged since the last fold. */
export function foldOplog(raw: SqliteConnection): FoldReport {
  const folded = raw.prepare('SELECT folded FROM ahenk_clock WHERE id = 0').value() as bigint;
  const joined = joinLocalEntries(raw, folded);
  // An entry going into the history index (causal length 1) takes its key's packed form there (log-key.ts).
  const { changes } = raw.prepare(`UPDATE ahenk_oplog SET ix = ${ixOf('cl')}, pk = CASE WHEN cl > 1 THEN pk ELSE ${packKeySql('pk')} END WHERE seq > ? AND ix IS NULL`).run(folded);
  raw.prepare('UPDATE ahenk_clock SET folded = (SELECT coalesce(max(seq), 0) FROM ahenk_oplog) WHERE id = 0').run();
  return { indexed: Number(changes), joined };
}

/** A run of one row's unindexed local entries in the tail, oldest first, with no other entry of the row between. */
interface Run {
  seqs: bigint[];
  masks: bigint[];
}

/** The highest seq the fold may join up to: every known peer acknowledged it (undefined: no peer). */
function joinHorizon(raw: SqliteConnection): bigint | undefined {
  const [peers, lowest] = raw.prepare('SELECT count(*), min(coalesce(acked, 0)) FROM ahenk_cursors').values()[0] as [bigint, bigint | null];
  return peers === 0n ? undefined : (lowest ?? 0n);
}

/** Joins each row's unindexed local entries after `folded` (see above); returns the log rows it removed. */
function joinLocalEntries(raw: SqliteConnection, folded: bigint): number {
  const horizon = joinHorizon(raw);
  if (horizon !== undefined && horizon <= folded) return 0;
  const tables = new Map<bigint, Map<string, Run[]>>();
  // Keys as text: merged entries in the tail hold a UUID key packed (log-key.ts), local ones as text.
  const tail = raw.prepare(`SELECT tbl, ${keyTextSql('pk')}, seq, cols, ix IS NULL AND (? IS NULL OR seq <= ?) FROM ahenk_oplog WHERE seq > ? ORDER BY seq`);
  for (const [tbl, pk, seq, cols, candidate] of tail.iterateValues(horizon ?? null, horizon ?? null, folded) as IterableIterator<[bigint, string, bigint, bigint, bigint]>) {
    let rows = tables.get(tbl);
    if (!rows) tables.set(tbl, (rows = new Map()));
    let runs = rows.get(pk);
    if (!runs) rows.set(pk, (runs = [{ seqs: [], masks: [] }]));
    if (candidate === 1n) {
      const run = runs[runs.length - 1]!;
      run.seqs.push(seq);
      run.masks.push(cols);
    } else if ((horizon === undefined || seq <= horizon) && runs[runs.length - 1]!.seqs.length > 0) {
      // An indexed entry (a delete, a merged row) keeps the entries before it apart from those
      // after it. Entries past the horizon come after every candidate and stay as they are.
      runs.push({ seqs: [], masks: [] });
    }
  }
  const dead: bigint[] = [];
  const rewrites: [bigint, Uint8Array][] = [];
  for (const rows of tables.values()) {
    for (const row of rows.values()) for (const run of row) joinRun(run, dead, rewrites);
  }
  const drop = raw.prepare('DELETE FROM ahenk_oplog WHERE seq IN (SELECT value FROM json_each(?))');
  for (let start = 0; start < dead.length; start += CHUNK) drop.run(`[${dead.slice(start, start + CHUNK).join(',')}]`);
  const setMore = raw.prepare('UPDATE ahenk_oplog SET more = ? WHERE seq = ?');
  for (const [seq, more] of rewrites) setMore.run(more, seq);
  return dead.length;
}

/** Joins one run into its newest entry: the older ones become clock groups with the columns no newer one set. */
function joinRun(run: Run, dead: bigint[], rewrites: [bigint, Uint8Array][]): void {
  const n = run.seqs.length;
  if (n < 2) return;
  let covered = run.masks[n - 1]!;
  const groups: ClockGroup[] = [];
  for (let i = n - 2; i >= 0; i--) {
    dead.push(run.seqs[i]!);
    const mask = run.masks[i]! & ~covered;
    covered |= run.masks[i]!;
    if (mask !== 0n) groups.push({ hlc: run.seqs[i]!.toString(16).padStart(16, '0'), site: 0, mask });
  }
  if (groups.length > 0) rewrites.push([run.seqs[n - 1]!, encodeClockGroups(groups)]);
}
