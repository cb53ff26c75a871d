/**
 * A migration on a full disk or read-only media: migrateDatabase and initializeDatabase (app
 * migrations, capture install, held-back entries applied) commit all or nothing. At every size
 * the disk could run out at, the database is either fully migrated or exactly as it was, with a
 * StorageError naming it; a second attempt with space succeeds. SQLite's page cap stands in for a
 * full disk (the same SQLITE_FULL), a query-only connection for read-only media (SQLITE_READONLY).
 */
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { countQuarantined, getOplogEntriesSince, initializeDatabase, merge, migrateDatabase, StorageError } from '../src/index.ts';
import { openConnection, type SqliteConnection } from '../src/sqlite/index.ts';
import { dump, tempDir } from './helpers/db.ts';
import { app, expectCaptureInstalled, openDevice as open, plainWrite, triggersOn, useAppMigrations, type Device } from './fixtures/migrations/devices.ts';

useAppMigrations();

/** Writes of the v4 device the v1 device holds back: one with a new column, 301 for a new table. */
const HELD = 302;

/** Everything in the file: its schema (tables, indexes, triggers) and every table's rows with their storage classes. */
function snapshot(raw: SqliteConnection): unknown {
  const master = raw.prepare("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name").all().map((row) => ({ ...row }));
  const tables = master.filter((m) => m.type === 'table').map((m) => m.name as string);
  return { master, data: Object.fromEntries(tables.map((t) => [t, dump({ $connection: raw }, t)])) };
}

/**
 * A v1 device holding rows, with writes of a v4 device held back (a column and a table it lacks),
 * checkpointed into its file so the file alone can be copied.
 */
function v1DeviceWithHeldWrites(dir: string): string {
  const v4 = open(join(dir, 'v4.db'), 4);
  // Held notes that take room of their own once applied: the disk can fill after the migrations ran.
  plainWrite(v4.path, "INSERT INTO todos (id, title, priority) VALUES ('q1', 'from v4', 5); INSERT INTO notes (id, body) VALUES ('n1', 'a note')");
  plainWrite(v4.path, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300) INSERT INTO notes (id, body) SELECT 'note-' || i, printf('%.300c', 'y') FROM n`);
  const v1 = open(join(dir, 'v1.db'), 1);
  plainWrite(v1.path, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400) INSERT INTO todos (id, title) SELECT 'row-' || i, printf('%.200c', 'x') FROM n`);
  const held = merge(v1, getOplogEntriesSince(v4).entries);
  expect(new Set(held.quarantined.map((q) => q.reason))).toEqual(new Set(['unknown-column', 'unknown-table']));
  v1.$connection.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  v1.$connection.close();
  return v1.path;
}

function migrated(db: Device | { $connection: SqliteConnection }): void {
  expect(db.$connection.prepare("SELECT priority FROM todos WHERE id = 'q1'").value()).toBe(5n);
  expect(db.$connection.prepare("SELECT body FROM notes WHERE id = 'n1'").value()).toBe('a note');
  expect(countQuarantined(db)).toBe(0);
  expect(Number(db.$connection.prepare('SELECT count(*) FROM todos').value())).toBe(401);
  expect(db.$connection.pragma('integrity_check')).toBe('ok');
}

describe('a migration that runs out of disk or meets read-only media', () => {
  it('migrateDatabase is all or nothing at every point the disk can fill, and a second attempt with space succeeds', () => {
    const dir = tempDir();
    const original = v1DeviceWithHeldWrites(dir);
    let failed = 0;
    let succeeded = 0;
    // Each try starts from a copy of the same v1 file and lets the file grow by `extra` pages only.
    for (let extra = 0; extra <= 400 && succeeded < 2; extra += 3) {
      const path = join(dir, `try-${extra}.db`);
      copyFileSync(original, path);
      const db = initializeDatabase<Record<string, unknown>>(path, { schema: app().schema[1] });
      try {
        const raw = db.$connection;
        const before = snapshot(raw);
        raw.exec(`PRAGMA max_page_count = ${Number(raw.pragma('page_count')) + extra}`);
        let error: unknown;
        try {
          migrateDatabase(db, { migrationsFolder: app().folder[4], schema: app().schema[4] });
        } catch (thrown) {
          error = thrown;
        }
        if (error === undefined) {
          succeeded++;
          migrated(db);
          expectCaptureInstalled(Object.assign(db, { path }), 4);
          continue;
        }
        failed++;
        expect(error).toBeInstanceOf(StorageError);
        expect(error).toMatchObject({ code: 'DISK_FULL', database: path, operation: 'migrating the database' });
        // Nothing of it: not the migrations, not a trigger, not a held-back entry applied.
        expect(snapshot(raw)).toEqual(before);
        expect(countQuarantined(db)).toBe(HELD);
        raw.exec('PRAGMA max_page_count = 1073741823');
        migrateDatabase(db, { migrationsFolder: app().folder[4], schema: app().schema[4] });
        migrated(db);
        expectCaptureInstalled(Object.assign(db, { path }), 4);
      } finally {
        db.$connection.close();
      }
    }
    console.log(`migration: ${failed} sizes failed whole, ${succeeded} succeeded`);
    // The sizes tried cover failures and then success.
    expect(failed).toBeGreaterThanOrEqual(3);
    expect(succeeded).toBeGreaterThanOrEqual(1);
  });

  it('initializeDatabase with the app migrations on read-only media changes nothing, then migrates once it can write', () => {
    const dir = tempDir();
    const path = v1DeviceWithHeldWrites(dir);
    const raw = openConnection(path);
    try {
      const before = snapshot(raw);
      raw.exec('PRAGMA query_only = ON');
      let error: unknown;
      try {
        initializeDatabase(raw, { migrationsFolder: app().folder[4], schema: app().schema[4] });
      } catch (thrown) {
        error = thrown;
      }
      expect(error).toBeInstanceOf(StorageError);
      expect(error).toMatchObject({ code: 'DISK_READ_ONLY', database: path, operation: 'initializing the database' });
      expect(snapshot(raw)).toEqual(before);
      expect(triggersOn(raw, 'notes')).toEqual([]);
      raw.exec('PRAGMA query_only = OFF');
      const db = initializeDatabase(raw, { migrationsFolder: app().folder[4], schema: app().schema[4] });
      migrated(db);
    } finally {
      raw.close();
    }
  });

  it('initializeDatabase with the app migrations on a full disk changes nothing, then migrates once there is space', () => {
    const dir = tempDir();
    const path = v1DeviceWithHeldWrites(dir);
    const raw = openConnection(path);
    try {
      const before = snapshot(raw);
      raw.exec(`PRAGMA max_page_count = ${Number(raw.pragma('page_count')) + 8}`);
      expect(() => initializeDatabase(raw, { migrationsFolder: app().folder[4], schema: app().schema[4] })).toThrow(expect.objectContaining({ name: 'StorageError', code: 'DISK_FULL', database: path }));
      expect(snapshot(raw)).toEqual(before);
      raw.exec('PRAGMA max_page_count = 1073741823');
      migrated(initializeDatabase(raw, { migrationsFolder: app().folder[4], schema: app().schema[4] }));
    } finally {
      raw.close();
    }
  });
});
