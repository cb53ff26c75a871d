/**
 * The app's own writes on a full disk or read-only media: they fail with SQLite's own error (the
 * app's write path is the app's), and the capture triggers make each statement fail whole: no app
 * row without its log entry, no log entry without its write. SQLite's page cap stands in for a
 * full disk (the same SQLITE_FULL), a query-only connection for read-only media.
 */
import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { StorageError } from '../../src/index.ts';
import { openDevice } from '../helpers/db.ts';
import { todos } from '../helpers/schema.ts';

type Device = ReturnType<typeof openDevice>;

const count = (db: Device, sql: string, ...params: string[]): number => Number(db.$connection.prepare(sql).value(...params));
const TODOS_LOG = "tbl = (SELECT id FROM ahenk_tables WHERE name = 'todos')";

/** Every row of todos has a log entry and every logged key is a row (the app only inserts here). */
function expectEveryRowLogged(db: Device): number {
  const rows = count(db, 'SELECT count(*) FROM todos');
  expect(count(db, `SELECT count(DISTINCT pk) FROM ahenk_oplog WHERE ${TODOS_LOG}`)).toBe(rows);
  expect(count(db, `SELECT count(*) FROM todos WHERE id NOT IN (SELECT pk FROM ahenk_oplog WHERE ${TODOS_LOG})`)).toBe(0);
  return rows;
}

function sqliteError(db: Device, body: () => unknown): unknown {
  try {
    body();
  } catch (error) {
    // The app's write path is not Ahenk's: SQLite's own error, untouched.
    expect(error).not.toBeInstanceOf(StorageError);
    expect(db.$connection.isSqliteError(error)).toBe(true);
    return error;
  }
  throw new Error('expected the write to fail');
}

describe("the app's writes on a full disk", () => {
  it('an insert that does not fit leaves neither its row nor its log entry, wherever the disk fills', () => {
    const db = openDevice();
    const raw = db.$connection;
    let next = 0;
    // Room for a few pages at a time: the disk fills in the table, its index, the log or its indexes.
    for (let round = 0; round < 25; round++) {
      raw.exec(`PRAGMA max_page_count = ${Number(raw.pragma('page_count')) + 3}`);
      const error = sqliteError(db, () => {
        for (;;) {
          db.insert(todos).values({ id: `row-${next}`, title: 't'.repeat(150 + (next % 97)) }).run();
          next++;
        }
      });
      expect(raw.sqliteCode(error)).toBe('SQLITE_FULL');
      expect(count(db, 'SELECT count(*) FROM todos WHERE id = ?', `row-${next}`)).toBe(0);
      expect(expectEveryRowLogged(db)).toBe(next);
    }
    expect(raw.pragma('integrity_check')).toBe('ok');
  });

  it('a multi-row update or delete that does not fit changes no row and logs nothing', () => {
    const db = openDevice();
    const raw = db.$connection;
    raw.transaction(() => {
      for (let i = 0; i < 500; i++) db.insert(todos).values({ id: `row-${i}`, title: 'short' }).run();
    });
    const log = count(db, 'SELECT count(*) FROM ahenk_oplog');
    raw.exec(`PRAGMA max_page_count = ${Number(raw.pragma('page_count')) + 2}`);
    const update = sqliteError(db, () => db.update(todos).set({ title: 'l'.repeat(500) }).run());
    expect(raw.sqliteCode(update)).toBe('SQLITE_FULL');
    expect(count(db, "SELECT count(*) FROM todos WHERE title <> 'short'")).toBe(0);
    expect(count(db, 'SELECT count(*) FROM ahenk_oplog')).toBe(log);

    raw.exec('PRAGMA query_only = ON');
    const remove = sqliteError(db, () => db.delete(todos).where(eq(todos.done, 0)).run());
    expect(raw.sqliteCode(remove)).toMatch(/^SQLITE_READONLY/);
    expect(count(db, 'SELECT count(*) FROM todos')).toBe(500);
    expect(count(db, 'SELECT count(*) FROM ahenk_oplog')).toBe(log);
    raw.exec('PRAGMA query_only = OFF');

    // With room again, the same statements go through, each change logged.
    raw.exec('PRAGMA max_page_count = 1073741823');
    const last = raw.prepare('SELECT max(seq) FROM ahenk_oplog').value() as bigint;
    db.update(todos).set({ title: 'l'.repeat(500) }).run();
    expect(Number(raw.prepare(`SELECT count(DISTINCT pk) FROM ahenk_oplog WHERE ${TODOS_LOG} AND seq > ?`).value(last))).toBe(500);
  });
});
