/**
 * Writes that must not be captured: the triggers skip logging while ahenk_apply_guard holds a row
 * (the same guard merge uses). Only inside the caller's write transaction, so no other connection
 * ever sees the guard, and it is gone before the transaction ends.
 */
import type { SqliteConnection } from '../sqlite/index.ts';

export function withoutCapture<T>(raw: SqliteConnection, write: () => T): T {
  if (!raw.inTransaction) throw new Error('withoutCapture must run inside a write transaction');
  raw.prepare('INSERT INTO ahenk_apply_guard (id) VALUES (1)').run();
  try {
    return write();
  } finally {
    raw.prepare('DELETE FROM ahenk_apply_guard').run();
  }
}
