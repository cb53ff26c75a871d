/**
 * Merge when the app's own schema says no: a constraint of the app's table (CHECK, a STRICT
 * column type) refuses a peer's values, or an app trigger makes SQLite roll the whole transaction
 * back (RAISE(ROLLBACK)). Runs on the adapter the suite runs on.
 */
import { integer, text } from 'drizzle-orm/sqlite-core';
import { describe, expect, it } from 'vitest';
import { defineSyncedTable, getOplogEntriesSince, InvalidEntryError, merge, migrateDatabase, type OplogEntry } from '../../src/index.ts';
import { formatHlc, packHlc } from '../../src/clock/index.ts';
import { caught, fileImage, openDevice } from '../helpers/db.ts';
import { cellsOf, delta, type Write } from '../helpers/entries.ts';
import { todos } from '../helpers/schema.ts';

type Device = ReturnType<typeof openDevice>;

const T0 = Date.UTC(2026, 10, 1);
const at = (ms: number) => formatHlc(packHlc(T0 + ms, 0));
const entry = (over: Partial<Write> & Pick<Write, 'table' | 'pk'>): OplogEntry => delta({ op: 'update', hlc: at(0), device: 'peer-device', cl: 1, values: {}, ...over });

const checked = defineSyncedTable('checked', { id: text('id').primaryKey(), n: integer('n') });
const typed = defineSyncedTable('typed', { id: text('id').primaryKey(), n: integer('n') });

/** A device whose synced tables refuse values: `checked` has CHECK (n >= 0), `typed` is STRICT. */
function deviceWithStrictTables(): Device {
  const db = openDevice('strict');
  db.$connection.exec(`
    CREATE TABLE checked (id text PRIMARY KEY NOT NULL, n integer CHECK (n >= 0));
    CREATE TABLE typed (id text PRIMARY KEY NOT NULL, n integer) STRICT;
  `);
  migrateDatabase(db, { schema: { checked, typed } });
  return db;
}

const localWrites = (db: Device) => db.$connection.prepare('SELECT count(*) FROM ahenk_oplog WHERE hlc IS NULL').value();
const todoRows = (db: Device) => db.$connection.prepare('SELECT id, title, done FROM todos ORDER BY id', { integers: 'number' }).values();

describe('merge refuses an update of an existing row that the app table refuses', () => {
  const cases: [string, OplogEntry, RegExp][] = [
    ['a CHECK constraint', entry({ table: 'checked', pk: 'c1', hlc: at(10), values: { n: -1n } }), /table "checked" refused row "c1": CHECK constraint failed/],
    ['a wrong type in a STRICT table', entry({ table: 'typed', pk: 't1', hlc: at(10), values: { n: 'not a number' } }), /table "typed" refused row "t1": cannot store TEXT value in INTEGER column/],
  ];
  for (const [name, bad, message] of cases) {
    it(`${name}: InvalidEntryError names the entry, and the database is unchanged`, () => {
      const db = deviceWithStrictTables();
      merge(db, [
        entry({ table: 'checked', pk: 'c1', op: 'insert', values: { n: 1n } }),
        entry({ table: 'typed', pk: 't1', op: 'insert', values: { n: 1n } }),
        entry({ table: 'todos', pk: 'keep', op: 'insert', values: { title: 'kept' } }),
      ]);
      const before = fileImage(db);
      const error = caught(() => merge(db, [entry({ table: 'todos', pk: 'keep', hlc: at(10), values: { title: 'changed in the same batch' } }), bad]));
      expect(error).toBeInstanceOf(InvalidEntryError);
      expect((error as InvalidEntryError).code).toBe('ENTRY_INVALID');
      expect((error as InvalidEntryError).index).toBe(1);
      expect((error as Error).message).toMatch(message);
      expect(Buffer.compare(fileImage(db), before)).toBe(0);
      expect(db.$connection.inTransaction).toBe(false);
      // Without the bad entry the same batch applies.
      expect(merge(db, [entry({ table: 'todos', pk: 'keep', hlc: at(10), values: { title: 'changed' } })]).applied).toBe(1);
      expect(todoRows(db)).toEqual([['keep', 'changed', 0]]);
    });
  }
});

describe('merge when an app trigger makes SQLite roll the transaction back (RAISE(ROLLBACK))', () => {
  /** Device b refuses todos with a negative `done` with a trigger that rolls back the transaction. */
  function pair(event: 'INSERT' | 'UPDATE') {
    const a = openDevice('a');
    const b = openDevice('b');
    b.$connection.exec(`CREATE TRIGGER app_no_negative BEFORE ${event} ON todos WHEN NEW.done < 0 BEGIN SELECT RAISE(ROLLBACK, 'negative done'); END`);
    return { a, b };
  }

  /** The failed merge threw SQLite's error, committed nothing and logged nothing as b's own write. */
  function expectRolledBack(b: Device, error: unknown, before: Buffer): void {
    expect((error as Error | undefined)?.message).toMatch(/negative done/);
    expect(b.$connection.inTransaction).toBe(false);
    expect(localWrites(b)).toBe(0n);
    expect(Buffer.compare(fileImage(b), before)).toBe(0);
    expect(b.$connection.prepare('SELECT count(*) FROM ahenk_apply_guard').value()).toBe(0n);
    // The app's trigger, not the peer's entry, stopped the merge: SQLite's own error comes through.
    expect(error).not.toBeInstanceOf(InvalidEntryError);
    expect(b.$connection.isSqliteError(error)).toBe(true);
  }

  /** b still works: it merges what its trigger accepts, and its own writes are captured and exported. */
  function expectUsable(a: Device, b: Device, accepted: OplogEntry[]): void {
    merge(b, accepted);
    b.insert(todos).values({ id: 'mine', title: 'written on b' }).run();
    const exported = getOplogEntriesSince(b).entries;
    const mine = exported.find((e) => e.pk === 'mine');
    expect(mine).toMatchObject({ table: 'todos', cl: 1 });
    expect(cellsOf(mine!)).toMatchObject({ title: 'written on b' });
    merge(a, exported);
    expect(todoRows(a)).toContainEqual(['mine', 'written on b', 0]);
  }

  it('in a batch of new rows: nothing of the batch is written, not even in autocommit', () => {
    const { a, b } = pair('INSERT');
    a.insert(todos).values([{ id: 'r1', title: 'one', done: 1 }, { id: 'r2', title: 'two', done: -1 }, { id: 'r3', title: 'three', done: 3 }]).run();
    const entries = getOplogEntriesSince(a).entries;
    const before = fileImage(b);
    const error = caught(() => merge(b, entries));
    expectRolledBack(b, error, before);
    expect(todoRows(b)).toEqual([]);
    expectUsable(a, b, entries.filter((e) => e.pk !== 'r2'));
    expect(todoRows(b).map(([id]) => id)).toEqual(['mine', 'r1', 'r3']);
  });

  it('in an update of an existing row, with a new row in the same batch', () => {
    const { a, b } = pair('UPDATE');
    a.insert(todos).values([{ id: 'r1', title: 'one', done: 1 }]).run();
    merge(b, getOplogEntriesSince(a).entries);
    const { cursor } = getOplogEntriesSince(a);
    a.insert(todos).values({ id: 'r0', title: 'new', done: 0 }).run();
    a.update(todos).set({ title: 'renamed' }).run();
    a.update(todos).set({ done: -5 }).run();
    const entries = getOplogEntriesSince(a, cursor).entries;
    const before = fileImage(b);
    const error = caught(() => merge(b, entries));
    expectRolledBack(b, error, before);
    expect(todoRows(b)).toEqual([['r1', 'one', 1]]);
    a.update(todos).set({ done: 2 }).run();
    expectUsable(a, b, getOplogEntriesSince(a, cursor).entries);
    expect(todoRows(b)).toEqual([['mine', 'written on b', 0], ['r0', 'renamed', 2], ['r1', 'renamed', 2]]);
  });
});
