/**
 * The two partial (tbl, pk) indexes of the oplog and what goes in each. Local inserts and updates
 * are appended unindexed (ix NULL) and folded in later; deletes and merged entries go in at once.
 *
 * - ahenk_oplog_row (ix = 1): entries whose causal length is above 1. A row's causal length is the
 *   highest there, or 1 when it has none: local writes take it from this index (an insert or update
 *   never raises it, a delete is in it), and an entry of a re-inserted row is in it too. So the
 *   triggers' lookups and a delete's index insert touch an index that only rows ever deleted or
 *   re-inserted are in, however many rows the table holds.
 * - ahenk_oplog_history (ix = 0): every other entry, for merge's and compaction's history lookups.
 *
 * Compaction never drops a row's newest entry, which carries its highest causal length, so the
 * first index keeps what it is for.
 */

/** The condition of ahenk_oplog_row, as its definition spells it (the planner matches it literally). */
export const CL_INDEXED = 'ix = 1';

/** The condition of ahenk_oplog_history. */
export const HISTORY_INDEXED = 'ix = 0';

/** The ix of a folded or merged entry with causal length `cl` (SQL): 1 above causal length 1, else 0. */
export function ixOf(cl: string): string {
  return `(${cl} > 1)`;
}

/** The same in JS, for entries merge binds. */
export function ixOfCl(cl: number): 0 | 1 {
  return cl > 1 ? 1 : 0;
}

/**
 * A query over every indexed entry of some rows of one table: `select` (up to its WHERE) run
 * against each index, the keys asked in the form that index holds them in (log-key.ts: packed in
 * the history index). Parameters: table id, the keys (a JSON array of their texts), table id, and
 * the keys as log-key.ts historyKeyLists gives them (the UUIDs' hex, the other keys).
 * `pk` comes out as the log holds it (keyFromLog or keyTextSql turn it back into text).
 */
export function overBothIndexesByKeys(select: string): string {
  return (
    `${select} WHERE tbl = ? AND pk IN (SELECT value FROM json_each(?)) AND ${CL_INDEXED} UNION ALL ` +
    `${select} WHERE tbl = ? AND pk IN (SELECT unhex(value) FROM json_each(?) UNION ALL SELECT value FROM json_each(?)) AND ${HISTORY_INDEXED}`
  );
}

/**
 * A query over every indexed entry of some rows: `select` (up to its WHERE) run against each index,
 * `where` without the index condition. Each half uses its own partial index; the parameters of
 * `where` are bound twice, once per half (positional parameters keep the port simple).
 */
export function overBothIndexes(select: string, where: string): string {
  return `${select} WHERE ${where} AND ${CL_INDEXED} UNION ALL ${select} WHERE ${where} AND ${HISTORY_INDEXED}`;
}
