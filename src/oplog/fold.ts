/**
 * Folding: puts the local inserts and updates that triggers appended unindexed into the (tbl, pk)
 * indexes (log-index.ts), in bulk over the log's tail. Merge folds before it looks rows up, so a write pays
 * for the index only when a peer's change actually needs it, and then in bulk.
 *
 * Before it indexes them, the fold joins a row's unindexed local entries (an insert and its later
 * updates, logged as separate rows by the triggers) into one log row with clock groups, the way
 * merge logs a row (clock-groups.ts): the newest entry keeps its own columns (a local row's stamp
 * is its seq), the older ones go to `more`, each with only the columns no newer one set again (a
 * group that keeps none is superseded and goes). One log row and one index entry per row instead
 * of one per write. A key with exactly two such entries (an insert and one update, the common
 * case) is joined in SQL alone (findRuns, joinPairs); longer runs go through joinLocalEntries in JS.
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
import { GROUP_BYTES, writeClockGroup } from './clock-groups.ts';
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

/**
 * Joins and indexes every entry logged since the last fold. `pairsInSql: false` sends every run
 * through the general join in JS (tests compare both ways).
 */
export function foldOplog(raw: SqliteConnection, { pairsInSql = true }: { pairsInSql?: boolean } = {}): FoldReport {
  const folded = raw.prepare('SELECT folded FROM ahenk_clock WHERE id = 0').value() as bigint;
  let joined = 0;
  let rewritten = 0;
  const horizon = joinHorizon(raw);
  // Merge folds before every batch, and then the tail mostly holds the last batch's merged rows
  // (indexed already): without two unindexed rows there is nothing to join, and no need to sort.
  const unindexed = raw.cached('SELECT count(*) FROM (SELECT 1 FROM ahenk_oplog WHERE seq > ? AND ix IS NULL LIMIT 2)', { integers: 'number' }).value(folded) as number;
  if (unindexed === 2 && (horizon === undefined || horizon > folded)) {
    const runs = findRuns(raw, folded, pairsInSql ? (horizon ?? MAX_SEQ) : -1n);
    if (runs.pairs > 0) {
      const pairs = joinPairs(raw, folded);
      joined += pairs.joined;
      rewritten += pairs.rewritten;
    }
    if (runs.others > 0) {
      const others = joinLocalEntries(raw, folded, horizon);
      joined += others.joined;
      rewritten += others.rewritten;
    }
    // The temp tables hold a row per joined key until emptied (their memory, not the file's).
    raw.exec('DELETE FROM temp.ahenk_fold_runs; DELETE FROM temp.ahenk_fold_pairs; DELETE FROM temp.ahenk_fold_keys;');
  }
  // An entry going into the history index (causal length 1) takes its key's packed form there (log-key.ts).
  const { changes } = raw.prepare(`UPDATE ahenk_oplog SET ix = ${ixOf('cl')}, pk = CASE WHEN cl > 1 THEN pk ELSE ${packKeySql('pk')} END WHERE seq > ? AND ix IS NULL`).run(folded);
  raw.prepare('UPDATE ahenk_clock SET folded = (SELECT coalesce(max(seq), 0) FROM ahenk_oplog) WHERE id = 0').run();
  return { indexed: Number(changes) + rewritten, joined };
}

/**
 * The keys of the tail with at least two unindexed local entries, in two temp tables the join
 * reads: `ahenk_fold_pairs`, the common case done in SQL alone (exactly two log rows in the tail,
 * both unindexed, the newer at or below the horizon: an insert and one update, or two updates),
 * and `ahenk_fold_keys`, every other such key, for the general join in JS. One GROUP BY over the
 * tail; a key the log holds packed (a merged entry) is grouped by its text, so a merged or deleted
 * entry of a key keeps it out of the pairs. A pair keeps the sum of its two masks, from which the
 * join gets the older one's, taken as min + max: a sum of every row of a longer run overflows
 * (four updates of a 62-column table's last column), min + max of masks of at most 62 bits (or -1)
 * cannot.
 */
function findRuns(raw: SqliteConnection, folded: bigint, horizon: bigint): { pairs: number; others: number } {
  raw.exec(`CREATE TEMP TABLE IF NOT EXISTS ahenk_fold_runs(tbl INTEGER NOT NULL, pk TEXT NOT NULL, newest INTEGER NOT NULL, oldest INTEGER NOT NULL, masks INTEGER NOT NULL, pair INTEGER NOT NULL);
    CREATE TEMP TABLE IF NOT EXISTS ahenk_fold_pairs(newest INTEGER PRIMARY KEY, oldest INTEGER NOT NULL, masks INTEGER NOT NULL);
    CREATE TEMP TABLE IF NOT EXISTS ahenk_fold_keys(tbl INTEGER NOT NULL, pk TEXT NOT NULL, PRIMARY KEY (tbl, pk)) WITHOUT ROWID;
    DELETE FROM temp.ahenk_fold_runs; DELETE FROM temp.ahenk_fold_pairs; DELETE FROM temp.ahenk_fold_keys;`);
  raw
    .prepare(
      `INSERT INTO temp.ahenk_fold_runs SELECT tbl, key, max(seq), min(seq), min(cols) + max(cols), count(*) = 2 AND count(ix) = 0 AND max(seq) <= ?
      FROM (SELECT tbl, CASE WHEN typeof(pk) = 'blob' THEN ${keyTextSql('pk')} ELSE pk END AS key, seq, ix, cols FROM ahenk_oplog WHERE seq > ?)
      GROUP BY tbl, key HAVING count(*) - count(ix) > 1`,
    )
    .run(horizon, folded);
  const pairs = raw.prepare('INSERT INTO temp.ahenk_fold_pairs SELECT newest, oldest, masks FROM temp.ahenk_fold_runs WHERE pair').run().changes;
  const others = raw.prepare('INSERT INTO temp.ahenk_fold_keys SELECT tbl, pk FROM temp.ahenk_fold_runs WHERE NOT pair').run().changes;
  return { pairs: Number(pairs), others: Number(others) };
}

/** The 20-byte clock group of an older local entry `seq` (site 0) with the 64-bit mask `mask` (SQL). */
function groupSql(seq: string, mask: string): string {
  return `unhex(printf('%016x00000000%016x', ${seq}, ${mask}))`;
}

/**
 * Joins the pairs findRuns found, in two statements over the tail: the newer entry takes the older
 * one's columns that it does not set itself as a clock group (an insert's group: every bit but the
 * newer entry's columns, "columns added later" included) and goes into its index, its key packed
 * there; the older entry goes. A group with no column left (the newer entry is an insert, or an
 * update setting every column the older one did) is superseded and not kept.
 */
function joinPairs(raw: SqliteConnection, folded: bigint): { joined: number; rewritten: number } {
  const older = '(p.masks - cols)';
  const rewritten = raw
    .prepare(
      `UPDATE ahenk_oplog SET ix = ${ixOf('cl')}, pk = CASE WHEN cl > 1 THEN pk ELSE ${packKeySql('pk')} END,
        more = CASE WHEN cols = -1 THEN NULL WHEN ${older} = -1 THEN ${groupSql('p.oldest', '~cols')}
          WHEN ${older} & ~cols = 0 THEN NULL ELSE ${groupSql('p.oldest', `${older} & ~cols`)} END
      FROM temp.ahenk_fold_pairs AS p WHERE ahenk_oplog.seq > ? AND ahenk_oplog.seq = p.newest`,
    )
    .run(folded).changes;
  const joined = raw.prepare('DELETE FROM ahenk_oplog WHERE seq > ? AND seq IN (SELECT oldest FROM temp.ahenk_fold_pairs)').run(folded).changes;
  return { joined: Number(joined), rewritten: Number(rewritten) };
}

/** Log rows per read of the tail (one JSON text of about 70 bytes a row). */
const SCAN_CHUNK = 20_000;

/** The highest seq the fold may join up to: every known peer acknowledged it (undefined: no peer). */
function joinHorizon(raw: SqliteConnection): bigint | undefined {
  const [peers, lowest] = raw.prepare('SELECT count(*), min(coalesce(acked, 0)) FROM ahenk_cursors').values()[0] as [bigint, bigint | null];
  return peers === 0n ? undefined : (lowest ?? 0n);
}

const MAX_SEQ = 2n ** 63n - 1n;

/**
 * A tail log row as the join reads it: its seq as decimal text (a local row's stamp), table, key, the mask's two
 * 31-bit halves (-1 and -1 for an insert's "every column") and whether it may join.
 */
type TailRow = [seq: string, tbl: number, pk: string, lo: number, hi: number, candidate: 0 | 1];

/**
 * Joins each row's runs of unindexed local entries after `folded` (see above), for the keys
 * findRuns left in ahenk_fold_keys; returns the log rows it removed and the joined rows it indexed. The tail is read in chunks of JSON (one parse per chunk, no BigInt per row);
 * each entry points at the previous one of its run, so a run is walked from its newest entry.
 */
function joinLocalEntries(raw: SqliteConnection, folded: bigint, horizon: bigint | undefined): { joined: number; rewritten: number } {
  // Keys as text: merged entries in the tail hold a UUID key packed (log-key.ts), local ones as text.
  const fields = `CAST(seq AS TEXT), tbl, ${keyTextSql('pk')}, CASE WHEN cols = -1 THEN -1 ELSE cols & 2147483647 END, CASE WHEN cols = -1 THEN -1 ELSE (cols >> 31) & 2147483647 END, ix IS NULL AND seq <= ?`;
  const read = raw.prepare(`SELECT json_group_array(json_array(${fields})), max(seq) FROM (SELECT seq, tbl, pk, cols, ix FROM ahenk_oplog AS o WHERE seq > ? AND EXISTS (SELECT 1 FROM temp.ahenk_fold_keys AS k WHERE k.tbl = o.tbl AND k.pk = ${keyTextSql('o.pk')}) ORDER BY seq LIMIT ${SCAN_CHUNK})`);
  const horizonText = horizon?.toString();
  const seqs: string[] = [];
  const los: number[] = [];
  const his: number[] = [];
  /** Index of the previous entry of the same run, or -1. */
  const previous: number[] = [];
  /** Whether a newer entry of the same run follows. */
  const followed: boolean[] = [];
  /** Per table: the key's last entry while its run is open, -1 once an indexed entry closed it. */
  const open = new Map<number, Map<string, number>>();
  for (let from = folded; ; ) {
    const [json, last] = read.values(horizon ?? MAX_SEQ, from)[0] as [string, bigint | null];
    const rows = JSON.parse(json) as TailRow[];
    for (const [seq, tbl, pk, lo, hi, candidate] of rows) {
      let keys = open.get(tbl);
      if (!keys) open.set(tbl, (keys = new Map()));
      if (candidate === 1) {
        const i = seqs.length;
        seqs.push(seq);
        los.push(lo);
        his.push(hi);
        const before = keys.get(pk);
        if (before !== undefined && before >= 0) {
          previous.push(before);
          followed[before] = true;
        } else previous.push(-1);
        followed.push(false);
        keys.set(pk, i);
      } else if (horizonText === undefined || atOrBelow(seq, horizonText)) {
        // An indexed entry (a delete, a merged row) keeps the entries before it apart from those
        // after it. Entries past the horizon come after every candidate and stay as they are.
        keys.set(pk, -1);
      }
    }
    if (rows.length < SCAN_CHUNK || last === null) break;
    from = last;
  }
  const dead: string[] = [];
  const rewrites: string[] = [];
  const group = new Uint8Array(GROUP_BYTES);
  for (let newest = 0; newest < seqs.length; newest++) {
    if (followed[newest] || previous[newest]! < 0) continue;
    // Columns set by a newer entry of the run: 31-bit halves, and "every column".
    let coveredLo = los[newest]!;
    let coveredHi = his[newest]!;
    let more = '';
    for (let i = previous[newest]!; i >= 0; i = previous[i]!) {
      dead.push(seqs[i]!);
      if (coveredLo === -1) continue;
      const lo = los[i]!;
      const hi = his[i]!;
      const all = lo === -1;
      const groupLo = (all ? ~coveredLo : lo & ~coveredLo) & 0x7fffffff;
      const groupHi = (all ? ~coveredHi : hi & ~coveredHi) & 0x7fffffff;
      if (all) {
        coveredLo = -1;
        coveredHi = -1;
      } else {
        coveredLo |= lo;
        coveredHi |= hi;
      }
      if (groupLo === 0 && groupHi === 0 && !all) continue;
      // The u64 mask: bits 0-30 and 31-61, and for an insert 62-63 too ("columns added later").
      writeClockGroup(group, 0, BigInt(seqs[i]!).toString(16).padStart(16, '0'), 0, (groupHi >>> 1) | (all ? 0xc0000000 : 0), groupLo | ((groupHi & 1) << 31));
      more += hexOf(group);
    }
    if (more !== '') rewrites.push(`[${seqs[newest]!},"${more}"]`);
  }
  const drop = raw.prepare('DELETE FROM ahenk_oplog WHERE seq IN (SELECT value FROM json_each(?))');
  for (let start = 0; start < dead.length; start += CHUNK) drop.run(`[${dead.slice(start, start + CHUNK).join(',')}]`);
  // The joined row is indexed in the same write, its key packed there (log-key.ts): the row keeps
  // about its size (16 bytes of key instead of 36, a 20-byte group more), so its page need not split.
  const setMore = raw.prepare(
    `UPDATE ahenk_oplog SET more = unhex(j.value ->> 1), ix = ${ixOf('cl')}, pk = CASE WHEN cl > 1 THEN pk ELSE ${packKeySql('pk')} END FROM json_each(?) AS j WHERE ahenk_oplog.seq = j.value ->> 0`,
  );
  let rewritten = 0;
  for (let start = 0; start < rewrites.length; start += CHUNK) rewritten += Number(setMore.run(`[${rewrites.slice(start, start + CHUNK).join(',')}]`).changes);
  return { joined: dead.length, rewritten };
}

/** Whether decimal `a` is at most decimal `b` (non-negative, no leading zeros). */
function atOrBelow(a: string, b: string): boolean {
  return a.length !== b.length ? a.length < b.length : a <= b;
}

const HEX_BYTE = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

function hexOf(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += HEX_BYTE[b]!;
  return out;
}
