/**
 * Capture survives the app's own drizzle-kit migrations: an added column, a table rebuild
 * (drizzle-kit's `__new_x`, drop, rename, which drops the triggers) and a new synced table, applied
 * with `migrateDatabase` or with drizzle's own `migrate()` followed by a re-open. Changes a device
 * cannot take yet wait in quarantine until the migration that adds their column or table runs.
 */
import { delta } from './helpers/entries.ts';
import { join } from 'node:path';
import { integer, text } from 'drizzle-orm/sqlite-core';
import { describe, expect, it } from 'vitest';
import {
  countQuarantined,
  defineSyncedTable,
  getOplogEntriesSince,
  initializeDatabase,
  merge,
  migrateDatabase,
  type AhenkDatabase,
} from '../src/index.ts';
import { dump, tempDir } from './helpers/db.ts';
import {
  app,
  drizzleMigrate,
  expectCaptureInstalled,
  expectSameData,
  newEntries,
  oplogSize,
  openDevice as open,
  plainWrite,
  useAppMigrations,
} from './fixtures/migrations/devices.ts';
import type { Version } from './fixtures/migrations/generate.ts';

useAppMigrations();

describe('capture across drizzle-kit migrations', () => {
  it('drizzle-kit produced the migrations this file claims to test', () => {
    expect(app().sql[2]).toMatch(/ALTER TABLE `todos` ADD `priority`/);
    expect(app().sql[3]).toMatch(/CREATE TABLE `__new_todos`[\s\S]*DROP TABLE `todos`[\s\S]*ALTER TABLE `__new_todos` RENAME TO `todos`/);
    expect(app().sql[4]).toMatch(/CREATE TABLE `notes`/);
  });

  it('keeps capturing through add column, table rebuild and a new table, via migrateDatabase and via re-open', () => {
    const dir = tempDir();
    // A runs migrateDatabase; B runs drizzle's own migrate() and is re-opened by initializeDatabase.
    const a = open(join(dir, 'a.db'), 1);
    let b = open(join(dir, 'b.db'), 1);
    let fromA: string | undefined;
    let fromB: string | undefined;
    const exchange = (version: Version) => {
      const outA = getOplogEntriesSince(a, fromA);
      expect(merge(b, outA.entries).quarantined).toEqual([]);
      fromA = outA.cursor;
      const outB = getOplogEntriesSince(b, fromB);
      expect(merge(a, outB.entries).quarantined).toEqual([]);
      fromB = outB.cursor;
      expectSameData(a, b, version);
    };

    // v1
    expectCaptureInstalled(a, 1);
    expectCaptureInstalled(b, 1);
    plainWrite(a.path, `INSERT INTO todos (id, title, done) VALUES ('a1', 'milk', 0), ('a2', 'bread', 1)`);
    plainWrite(b.path, `INSERT INTO todos (id, title) VALUES ('b1', 'eggs')`);
    expect(newEntries(a, '0').map((e) => e.pk)).toEqual(['a1', 'a2']);
    exchange(1);

    // Re-open B the way an app does after running drizzle's migrate() itself.
    const reopenB = (version: Version, betweenMigrateAndOpen?: () => void) => {
      b.$connection.close();
      const left = drizzleMigrate(b.path, version);
      betweenMigrateAndOpen?.();
      b = open(b.path, version, { migrate: false });
      return left;
    };
    // A migration logs nothing on its own: the same entries (stamps, devices) before and after, nothing
    // backfilled; an old insert also carries a column added since, at its default.
    const migrateBoth = (version: Version, expectInstalled: string[], gapWrite?: string) => {
      const exportA = getOplogEntriesSince(a);
      const sizeA = oplogSize(a);
      expect(migrateDatabase(a, { migrationsFolder: app().folder[version], schema: app().schema[version] })).toEqual({ installed: expectInstalled, backfilled: 0 });
      expect(oplogSize(a)).toBe(sizeA);
      expect(getOplogEntriesSince(a)).toMatchObject(exportA);
      expectCaptureInstalled(a, version);

      const exportB = getOplogEntriesSince(b);
      const sizeB = oplogSize(b);
      const left = reopenB(version, gapWrite === undefined ? undefined : () => plainWrite(b.path, gapWrite));
      const expectedB = getOplogEntriesSince(b);
      expect(expectedB.entries.slice(0, exportB.entries.length)).toMatchObject(exportB.entries);
      expect(oplogSize(b)).toBe(sizeB + (gapWrite === undefined ? 0 : 1));
      expectCaptureInstalled(b, version);
      return { left, cursorA: getOplogEntriesSince(a).cursor, cursorB: exportB.cursor };
    };

    // v2: ALTER TABLE ADD COLUMN keeps the old triggers, which do not know the new column.
    let step = migrateBoth(2, ['todos']);
    expect(step.left).toHaveLength(4);
    plainWrite(a.path, `INSERT INTO todos (id, title, priority) VALUES ('a3', 'tea', 7); UPDATE todos SET priority = 3 WHERE id = 'a1'`);
    plainWrite(b.path, `UPDATE todos SET priority = 2 WHERE id = 'a2'`);
    expect(newEntries(a, step.cursorA)).toEqual([
      { table: 'todos', pk: 'a3', cl: 1, values: [{ title: 'tea', done: 0n, priority: 7n }] },
      { table: 'todos', pk: 'a1', cl: 1, values: [{ priority: 3n }] },
    ]);
    expect(newEntries(b, step.cursorB)).toEqual([{ table: 'todos', pk: 'a2', cl: 1, values: [{ priority: 2n }] }]);
    exchange(2);
    expect(dump(b, 'todos').map((r) => (r as { priority: bigint }).priority)).toEqual([3n, 2n, 7n, 0n]);

    // v3: the rebuild drops every trigger on todos; rows written while they were gone are backfilled.
    step = migrateBoth(3, ['todos'], `INSERT INTO todos (id, title) VALUES ('b-gap', 'written between migrate and open')`);
    expect(step.left).toEqual([]);
    expect(newEntries(b, step.cursorB)).toEqual([
      { table: 'todos', pk: 'b-gap', cl: 1, values: [{ title: 'written between migrate and open', done: 0n, priority: 0n }] },
    ]);
    plainWrite(a.path, `UPDATE todos SET title = NULL WHERE id = 'a2'; INSERT INTO todos (id, title) VALUES ('a4', NULL); DELETE FROM todos WHERE id = 'b1'`);
    plainWrite(b.path, `UPDATE todos SET done = 1 WHERE id = 'a3'`);
    expect(newEntries(a, step.cursorA)).toEqual([
      { table: 'todos', pk: 'a2', cl: 1, values: [{ title: null }] },
      { table: 'todos', pk: 'a4', cl: 1, values: [{ title: null, done: 0n, priority: 0n }] },
      { table: 'todos', pk: 'b1', cl: 2, values: [{}] },
    ]);
    exchange(3);

    // v4: a new synced table gets capture on migrate and on re-open.
    step = migrateBoth(4, ['notes']);
    plainWrite(a.path, `INSERT INTO notes (id, body) VALUES ('n1', 'hello')`);
    plainWrite(b.path, `INSERT INTO notes (id, body) VALUES ('n2', 'world'); UPDATE todos SET priority = 9 WHERE id = 'a4'`);
    expect(newEntries(a, step.cursorA)).toEqual([{ table: 'notes', pk: 'n1', cl: 1, values: [{ body: 'hello' }] }]);
    exchange(4);
    expect(dump(a, 'notes')).toHaveLength(2);

    // A device that starts at v4 and takes everything from both converges too.
    const c = open(join(dir, 'c.db'), 4);
    expect(merge(c, getOplogEntriesSince(a).entries).quarantined).toEqual([]);
    expect(merge(c, getOplogEntriesSince(b).entries).quarantined).toEqual([]);
    expectSameData(a, c, 4);
    expect(dump(c, 'todos')).toHaveLength(5);
  });

  it('quarantines a newer column and a newer table, and applies them when the migration runs', () => {
    const dir = tempDir();
    const a = open(join(dir, 'a.db'), 2);
    const b = open(join(dir, 'b.db'), 1);

    plainWrite(a.path, `INSERT INTO todos (id, title, priority) VALUES ('q1', 'soon', 5)`);
    let out = getOplogEntriesSince(a);
    let result = merge(b, out.entries);
    expect(result.quarantined).toMatchObject([{ table: 'todos', pk: 'q1', reason: 'unknown-column' }]);
    expect(b.$connection.prepare(`SELECT title FROM todos WHERE id = 'q1'`).value()).toBe('soon');
    plainWrite(a.path, `UPDATE todos SET title = 'later', priority = 6 WHERE id = 'q1'`);
    out = getOplogEntriesSince(a, out.cursor);
    result = merge(b, out.entries);
    expect(result.quarantined).toHaveLength(1);
    expect(b.$connection.prepare(`SELECT title FROM todos WHERE id = 'q1'`).value()).toBe('later');
    expect(countQuarantined(b)).toBe(2);

    // B migrates to v2: the held values apply, the later write winning.
    migrateDatabase(b, { migrationsFolder: app().folder[2], schema: app().schema[2] });
    expect(countQuarantined(b)).toBe(0);
    expectSameData(a, b, 2);
    expect(b.$connection.prepare(`SELECT priority FROM todos WHERE id = 'q1'`).value()).toBe(6n);

    // What B applied from quarantine is in its log: a third device learns it from B alone.
    const c = open(join(dir, 'c.db'), 2);
    expect(merge(c, getOplogEntriesSince(b).entries).quarantined).toEqual([]);
    expectSameData(a, c, 2);

    // A whole table B does not have yet: held until B's re-open after drizzle's migrate().
    migrateDatabase(a, { migrationsFolder: app().folder[4], schema: app().schema[4] });
    plainWrite(a.path, `INSERT INTO notes (id, body) VALUES ('n1', 'hello'); UPDATE todos SET priority = 8 WHERE id = 'q1'`);
    result = merge(b, getOplogEntriesSince(a, out.cursor).entries);
    expect(result.quarantined).toMatchObject([{ table: 'notes', pk: 'n1', reason: 'unknown-table' }]);
    expect(result.applied).toBe(1);
    expect(countQuarantined(b)).toBe(1);
    b.$connection.close();
    drizzleMigrate(b.path, 4);
    const b4 = open(b.path, 4, { migrate: false });
    expect(countQuarantined(b4)).toBe(0);
    expectSameData(a, b4, 4);
    expect(dump(b4, 'notes')).toHaveLength(1);
  });

  // Each of these failed before the core fix it names; kept as regression tests.
  describe('gaps found by these tests', () => {
    it('a row another connection inserts between migrate() (ADD COLUMN) and the re-open keeps its new column', () => {
      // Fixed by insert entries covering all columns: the stale trigger logged only the old ones.
      const dir = tempDir();
      const a = open(join(dir, 'a.db'), 1);
      a.$connection.close();
      drizzleMigrate(a.path, 2);
      plainWrite(a.path, `INSERT INTO todos (id, title, priority) VALUES ('g1', 'gap', 5)`);
      const reopened = open(a.path, 2, { migrate: false });
      const c = open(join(dir, 'c.db'), 2);
      merge(c, getOplogEntriesSince(reopened).entries);
      expectSameData(reopened, c, 2);
    });

    it('merge on an open handle after another connection added a column keeps the cell clock', () => {
      // Fixed by treating a column without a capture bit as unknown until capture is refreshed.
      const dir = tempDir();
      const a = open(join(dir, 'a.db'), 2);
      plainWrite(a.path, `INSERT INTO todos (id, title, priority) VALUES ('m1', 'x', 5)`);
      const b = open(join(dir, 'b.db'), 1);
      drizzleMigrate(b.path, 2);
      merge(b, getOplogEntriesSince(a).entries);
      migrateDatabase(b, { schema: app().schema[2] });
      const c = open(join(dir, 'c.db'), 2);
      merge(c, getOplogEntriesSince(b).entries);
      expectSameData(a, c, 2);
    });

    it('a resolver changed by a new schema version is used by merge on the same open handle', () => {
      // Fixed by invalidating the catalog after install: this connection's own writes move neither
      // schema_version nor data_version.
      const a = open(join(tempDir(), 'a.db'), 1);
      a.$connection.exec(`INSERT INTO todos (id, done) VALUES ('r', 5)`);
      getOplogEntriesSince(a);
      const todos = defineSyncedTable(
        'todos',
        { id: text('id').primaryKey(), title: text('title').notNull().default(''), done: integer('done').notNull().default(0) },
        undefined,
        { resolvers: { done: 'min' } },
      );
      migrateDatabase(a, { schema: { todos } });
      const later = (BigInt(Date.now() + 1000) << 16n).toString(16).padStart(16, '0');
      merge(a, [delta({ table: 'todos', pk: 'r', op: 'update', hlc: later, device: 'other', cl: 1, values: { done: 9n } })]);
      expect(a.$connection.prepare(`SELECT done FROM todos`).value()).toBe(5n);
    });

    it('a row whose only synced column was renamed still reaches a new device', () => {
      // Fixed by insert entries covering all columns: the old one's bit alone left nothing to export.
      const dir = tempDir();
      const before = { todos: defineSyncedTable('todos', { id: text('id').primaryKey(), title: text('title') }) };
      const after = { todos: defineSyncedTable('todos', { id: text('id').primaryKey(), name: text('name') }) };
      const [a, c] = ['a', 'c'].map((name) => {
        const db = initializeDatabase(join(dir, `${name}.db`));
        db.$connection.exec(`CREATE TABLE todos (id text PRIMARY KEY NOT NULL, title text)`);
        migrateDatabase(db, { schema: before });
        return db;
      }) as [AhenkDatabase, AhenkDatabase];
      a.$connection.exec(`INSERT INTO todos VALUES ('r1', 'milk')`);
      for (const db of [a, c]) {
        db.$connection.exec(`ALTER TABLE todos RENAME COLUMN title TO name`);
        migrateDatabase(db, { schema: after });
      }
      merge(c, getOplogEntriesSince(a).entries);
      const rows = [a, c].map((db) => dump(db, 'todos'));
      for (const db of [a, c]) db.$connection.close();
      expect(rows[0]).toHaveLength(1);
      expect(rows[1]).toEqual(rows[0]);
    });

    it('an update another connection makes between migrate() (ADD COLUMN) and the re-open reaches a synced peer', () => {
      // The stale update trigger compares only the old columns; the re-install logs cells of a new
      // column that differ from its default, which only such a write can cause.
      const dir = tempDir();
      const a = open(join(dir, 'a.db'), 1);
      const b = open(join(dir, 'b.db'), 1);
      plainWrite(a.path, `INSERT INTO todos (id, title) VALUES ('r1', 'milk')`);
      const first = getOplogEntriesSince(a);
      merge(b, first.entries);
      a.$connection.close();
      drizzleMigrate(a.path, 2);
      plainWrite(a.path, `UPDATE todos SET priority = 5 WHERE id = 'r1'`);
      const reopened = open(a.path, 2, { migrate: false });
      migrateDatabase(b, { migrationsFolder: app().folder[2], schema: app().schema[2] });
      merge(b, getOplogEntriesSince(reopened, first.cursor).entries);
      expectSameData(reopened, b, 2);
    });
  });
});
