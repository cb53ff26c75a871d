/**
 * Folding: puts the local inserts and updates that triggers appended unindexed into the (tbl, pk)
 * indexes (log-index.ts), in one statement over the log's tail. Merge folds before it looks rows up, so a write pays
 * for the index only when a peer's change actually needs it, and then in bulk.
 */
import type { SqliteConnection } from '../sqlite/index.ts';
import { ixOf } from './log-index.ts';
import { packKeySql } from './log-key.ts';

/** Indexes every entry logged since the last fold; returns how many it indexed. */
export function foldOplog(raw: SqliteConnection): number {
  const folded = raw.prepare('SELECT folded FROM ahenk_clock WHERE id = 0').value() as bigint;
  // An entry going into the history index (causal length 1) takes its key's packed form there (log-key.ts).
  const { changes } = raw.prepare(`UPDATE ahenk_oplog SET ix = ${ixOf('cl')}, pk = CASE WHEN cl > 1 THEN pk ELSE ${packKeySql('pk')} END WHERE seq > ? AND ix IS NULL`).run(folded);
  raw.prepare('UPDATE ahenk_clock SET folded = (SELECT coalesce(max(seq), 0) FROM ahenk_oplog) WHERE id = 0').run();
  return Number(changes);
}
