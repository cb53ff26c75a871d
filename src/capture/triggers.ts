/**
 * Capture triggers: plain SQL, so a write from any connection (another process, the sqlite3
 * shell, drizzle studio) is logged. Each trigger appends exactly one row to ahenk_oplog per
 * change; its seq is the HLC stamp, advanced inside SQL from the log and the received-clock row,
 * so stamps are monotonic across processes and restarts even when the wall clock steps back.
 *
 * Inserts and updates are appended unindexed (ix NULL): the row's causal length only ever rises
 * through entries indexed at once (deletes here, merged entries above causal length 1), so it can be
 * read from the partial index of those (log-index.ts) without indexing every write.
 */
import { MAX_CAUSAL_LENGTH } from '../oplog/entry.ts';
import { CL_INDEXED } from '../oplog/log-index.ts';
import type { CaptureTarget } from '../oplog/catalog.ts';
import { NEXT_SEQ_SQL, OP, triggerNames } from '../oplog/format.ts';
import { quoteIdent } from '../sqlite/index.ts';



/** No capture while merge applies remote changes inside its own transaction. */
const NOT_APPLYING = 'NOT EXISTS (SELECT 1 FROM ahenk_apply_guard)';

/**
 * The write a trigger refuses rather than log a causal length past the bound, which every peer
 * would refuse (and with it everything logged after it). Only a row whose causal length reached
 * the bound gets here (it is even there: the row is deleted), through a re-insert of its key.
 */
export const CAUSAL_LENGTH_LIMIT_MESSAGE = `ahenk: this row's key was deleted at the causal length limit (${MAX_CAUSAL_LENGTH}); it cannot be inserted again, use a new key`;

/**
 * The write a trigger refuses rather than log a blob key: no peer could take it (an entry's key is
 * text), and the log keeps blobs for packed UUIDs alone (oplog/log-key.ts), so it never mistakes
 * one for the other. A text key column holds a blob only if the app binds one.
 */
export const BLOB_KEY_MESSAGE = "ahenk: a synced table's key must be text (or a number), not a blob";

/**
 * An insert sets every column, including columns added to the table after it was logged (their
 * value is then the default, the same on every device): so its mask is all ones, not a list.
 */
export const ALL_COLUMNS = -1n;

export function bitOf(target: CaptureTarget, column: string): bigint {
  const index = target.columns.indexOf(column);
  if (index < 0) throw new Error(`column ${column} has no capture bit`);
  return 1n << BigInt(index);
}

/** CREATE TRIGGER statements for one synced table, in a stable text form (hashed to detect drift). */
export function captureTriggerSql(target: CaptureTarget): string[] {
  const table = quoteIdent(target.name);
  const names = triggerNames(target.name);
  const pk = quoteIdent(target.pkColumn);
  // The row's causal length m, read once (the inner max() keeps SQLite's min/max shortcut), and
  // the one the write logs, f(m); at the bound the write fails instead (the statement is undone).
  const fromRowCl = (ref: 'NEW' | 'OLD', f: (m: string) => string) =>
    `(SELECT CASE WHEN m >= ${MAX_CAUSAL_LENGTH} THEN RAISE(ABORT, '${CAUSAL_LENGTH_LIMIT_MESSAGE.replaceAll("'", "''")}') ELSE ${f('m')} END FROM (SELECT max(cl) AS m FROM ahenk_oplog WHERE tbl = ${target.id} AND pk = ${ref}.${pk} AND ${CL_INDEXED}))`;
  // The key as the trigger logs it: text, as it is (the fold packs it later; oplog/log-key.ts).
  const logKey = (ref: 'NEW' | 'OLD') => `CASE WHEN typeof(${ref}.${pk}) = 'blob' THEN RAISE(ABORT, '${BLOB_KEY_MESSAGE.replaceAll("'", "''")}') ELSE ${ref}.${pk} END`;
  const append = (ref: 'NEW' | 'OLD', op: number, cl: string, cols: string, ix: 'NULL' | '1') =>
    `INSERT INTO ahenk_oplog (seq, tbl, pk, op, cl, cols, ix) VALUES (${NEXT_SEQ_SQL}, ${target.id}, ${logKey(ref)}, ${op}, ${cl}, ${cols}, ${ix});`;
  // Alive is the next odd causal length at or above the indexed ones; deleted the even one after it.
  // Below the (even) bound both stay within it; at it, both would pass it.
  const aliveCl = (ref: 'NEW' | 'OLD') => fromRowCl(ref, (m) => `(coalesce(${m}, 0) | 1)`);
  const deleteCl = (ref: 'NEW' | 'OLD') => fromRowCl(ref, (m) => `((coalesce(${m}, 0) | 1) + 1)`);
  const all = ALL_COLUMNS.toString();

  // IS NOT alone treats 1 and 1.0 as equal; typeof() keeps a change of storage class visible.
  const changed = (column: string) => {
    const c = quoteIdent(column);
    return `(OLD.${c} IS NOT NEW.${c} OR typeof(OLD.${c}) IS NOT typeof(NEW.${c}))`;
  };
  const anyChanged = target.liveColumns.length > 0 ? target.liveColumns.map(changed).join(' OR ') : '0';
  const changedMask =
    target.liveColumns.length > 0
      ? target.liveColumns.map((column) => `(CASE WHEN ${changed(column)} THEN ${bitOf(target, column)} ELSE 0 END)`).join(' | ')
      : '0';

  return [
    `CREATE TRIGGER ${quoteIdent(names.insert)} AFTER INSERT ON ${table} WHEN ${NOT_APPLYING} BEGIN ${append('NEW', OP.insert, aliveCl('NEW'), all, 'NULL')} END`,
    `CREATE TRIGGER ${quoteIdent(names.update)} AFTER UPDATE ON ${table} WHEN ${NOT_APPLYING} AND OLD.${pk} IS NEW.${pk} AND (${anyChanged}) BEGIN ${append('NEW', OP.update, aliveCl('NEW'), changedMask, 'NULL')} END`,
    // A changed primary key is a different row: the old one is deleted, the new one inserted.
    `CREATE TRIGGER ${quoteIdent(names.updateKey)} AFTER UPDATE ON ${table} WHEN ${NOT_APPLYING} AND OLD.${pk} IS NOT NEW.${pk} BEGIN ${append('OLD', OP.delete, deleteCl('OLD'), '0', '1')} ${append('NEW', OP.insert, aliveCl('NEW'), all, 'NULL')} END`,
    `CREATE TRIGGER ${quoteIdent(names.delete)} AFTER DELETE ON ${table} WHEN ${NOT_APPLYING} BEGIN ${append('OLD', OP.delete, deleteCl('OLD'), '0', '1')} END`,
  ];
}
