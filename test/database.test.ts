import { existsSync, lstatSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { eq, relations } from 'drizzle-orm';
import { integer, text } from 'drizzle-orm/sqlite-core';
import { describe, expect, it } from 'vitest';
import { DatabaseError, defineSyncedTable, MigrationsFolderError, getOplogEntriesSince, getSchemaVersion, initializeDatabase, KNOWN_SCHEMA_VERSION, type AdapterName } from '../src/index.ts';
import { defaultAdapter, openConnection } from '../src/sqlite/index.ts';
import { caught, tempDir } from './helpers/db.ts';

const lists = defineSyncedTable('lists', { id: text('id').primaryKey(), name: text('name') });
// A relation without a foreign key: rows may arrive in any order, so the link is logical.
const items = defineSyncedTable('items', { id: text('id').primaryKey(), listId: text('list_id'), qty: integer('qty') });
const listsRelations = relations(lists, ({ many }) => ({ items: many(items) }));
const itemsRelations = relations(items, ({ one }) => ({ list: one(lists, { fields: [items.listId], references: [lists.id] }) }));
const schema = { lists, items, listsRelations, itemsRelations };

describe('initializeDatabase', () => {
  it('gives a Drizzle database where synced tables work with queries and relations', () => {
    const path = `${tempDir()}/app.db`;
    const pre = openConnection(path);
    pre.exec(`CREATE TABLE lists (id text PRIMARY KEY NOT NULL, name text); CREATE TABLE items (id text PRIMARY KEY NOT NULL, list_id text, qty integer)`);
    pre.close();
    const db = initializeDatabase(path, { schema });
    db.insert(lists).values({ id: 'l1', name: 'groceries' }).run();
    db.insert(items).values([{ id: 'i1', listId: 'l1', qty: 2 }, { id: 'i2', listId: 'l1', qty: 1 }]).run();
    db.update(items).set({ qty: 3 }).where(eq(items.id, 'i2')).run();
    db.delete(items).where(eq(items.id, 'i1')).run();
    const found = db.query.lists.findFirst({ with: { items: true } }).sync();
    expect(found).toEqual({ id: 'l1', name: 'groceries', items: [{ id: 'i2', listId: 'l1', qty: 3 }] });
    // A row delta per row and incarnation: i2's insert and update are two groups of one entry.
    expect(getOplogEntriesSince(db).entries.map((e) => [e.table, e.pk, e.cl, e.groups.map((g) => Object.keys(g.values))])).toEqual([
      ['lists', 'l1', 1, [['name']]],
      ['items', 'i2', 1, [['list_id'], ['qty']]],
      ['items', 'i1', 2, [[]]],
    ]);
    expect(db.$connection.pragma('journal_mode')).toBe('wal');
    db.$connection.close();
  });

  it('is an idempotent upgrade when opened again, and records the schema version', () => {
    const path = `${tempDir()}/app.db`;
    const first = initializeDatabase(path);
    expect(getSchemaVersion(first)).toBe(KNOWN_SCHEMA_VERSION);
    const tables = first.$connection.prepare(`SELECT name, sql FROM sqlite_master ORDER BY name`).all();
    first.$connection.close();
    const second = initializeDatabase(path);
    expect(second.$connection.prepare(`SELECT name, sql FROM sqlite_master ORDER BY name`).all()).toEqual(tables);
    second.$connection.close();
  });

  it('refuses a database written by a newer Ahenk, and a synced table missing from the file', () => {
    const path = `${tempDir()}/app.db`;
    const db = initializeDatabase(path);
    db.$connection.prepare(`INSERT INTO __ahenk_migrations (hash, created_at) VALUES ('future', 9999999999999)`).run();
    db.$connection.close();
    expect(() => initializeDatabase(path)).toThrow(DatabaseError);
    expect(() => initializeDatabase(path)).toThrow(/newer than this Ahenk/);
    expect(() => initializeDatabase(`${tempDir()}/b.db`, { schema })).toThrow(/synced table "lists" does not exist in the database; apply your migrations first/);
  });

  it('takes a connection the app opened itself with the adapter in use, and keeps its handle as $client', () => {
    const path = `${tempDir()}/app.db`;
    const opened = openConnection(path);
    opened.exec(`CREATE TABLE lists (id text PRIMARY KEY NOT NULL, name text); CREATE TABLE items (id text PRIMARY KEY NOT NULL, list_id text, qty integer)`);
    const handle = opened.driver.client;
    const db = initializeDatabase(handle, { schema });
    expect(db.$client).toBe(handle);
    expect(db.$connection.adapter).toBe(defaultAdapter());
    expect(db.$connection.path).toBe(path);
    expect(getSchemaVersion(db)).toBe(KNOWN_SCHEMA_VERSION);
    db.insert(lists).values({ id: 'l1', name: 'groceries' }).run();
    // A write through the app's own connection is captured too: it is the same connection.
    opened.prepare(`INSERT INTO lists (id, name) VALUES ('l2', 'tools')`).run();
    expect(getOplogEntriesSince(db).entries.map((e) => [e.pk, e.cl, e.groups.map((g) => g.values)])).toEqual([
      ['l1', 1, [{ name: 'groceries' }]],
      ['l2', 1, [{ name: 'tools' }]],
    ]);
    db.$connection.close();
    expect(opened.isOpen).toBe(false);
  });

  it('leaves a connection the app opened open when it fails, so the app can migrate and try again', () => {
    const path = `${tempDir()}/app.db`;
    const opened = openConnection(path);
    const handle = opened.driver.client;
    // The app's tables are not there yet: initialize fails on the first synced table it looks for.
    expect(() => initializeDatabase(handle, { schema })).toThrow(/synced table "lists" does not exist in the database/);
    expect(opened.isOpen).toBe(true);
    opened.exec(`CREATE TABLE lists (id text PRIMARY KEY NOT NULL, name text); CREATE TABLE items (id text PRIMARY KEY NOT NULL, list_id text, qty integer)`);
    const db = initializeDatabase(handle, { schema });
    expect(db.$client).toBe(handle);
    db.insert(lists).values({ id: 'l1', name: 'groceries' }).run();
    expect(getOplogEntriesSince(db).entries.map((e) => [e.table, e.pk, e.cl])).toEqual([['lists', 'l1', 1]]);
    db.$connection.close();
    expect(opened.isOpen).toBe(false);
  });

  it('names a migrations folder that is not there (resolved), and leaves no database file behind', () => {
    const dir = tempDir();
    const path = join(dir, 'app.db');
    const call = () => initializeDatabase(path, { schema, migrationsFolder: 'no-such-folder/drizzle' });
    expect(call).toThrow(MigrationsFolderError);
    const error = caught(call) as MigrationsFolderError;
    expect(error.code).toBe('MIGRATIONS_NOT_FOUND');
    expect(error.folder).toBe(resolve('no-such-folder/drizzle'));
    expect(error.message).toContain(`migrationsFolder ${resolve('no-such-folder/drizzle')} ("no-such-folder/drizzle" resolved against the working directory ${process.cwd()}) does not exist`);
    // A folder without drizzle-kit's journal is named too.
    mkdirSync(join(dir, 'empty'));
    expect(() => initializeDatabase(path, { migrationsFolder: join(dir, 'empty') })).toThrow(`migrationsFolder ${join(dir, 'empty')} has no meta/_journal.json`);
    expect(existsSync(path)).toBe(false);
  });

  it('removes a database file it created when a migration fails, so a retry starts clean', () => {
    const dir = tempDir();
    const path = join(dir, 'app.db');
    const folder = join(dir, 'drizzle');
    mkdirSync(join(folder, 'meta'), { recursive: true });
    writeFileSync(join(folder, 'meta', '_journal.json'), JSON.stringify({ version: '7', dialect: 'sqlite', entries: [{ idx: 0, version: '6', when: 1, tag: '0000_bad', breakpoints: true }] }));
    writeFileSync(join(folder, '0000_bad.sql'), 'CREATE TABLE lists (id text PRIMARY KEY NOT NULL, name text);\n--> statement-breakpoint\nCREATE TABLE oops (;');
    expect(() => initializeDatabase(path, { schema, migrationsFolder: folder })).toThrow();
    for (const suffix of ['', '-wal', '-shm', '-journal']) expect(existsSync(`${path}${suffix}`)).toBe(false);
    // An existing database is never removed: the same failure on it leaves the file as it was.
    initializeDatabase(path).$connection.close();
    expect(() => initializeDatabase(path, { schema, migrationsFolder: folder })).toThrow();
    expect(existsSync(path)).toBe(true);
  });

  it('removes only a file it created itself: a path that was there (here a symlink existsSync calls absent) stays', () => {
    // The same holds for a file another process creates between the check and the open: the call
    // did not create it, so a failure must not delete it (nor its -wal and -shm, which hold its commits).
    const dir = tempDir();
    const folder = join(dir, 'drizzle');
    mkdirSync(join(folder, 'meta'), { recursive: true });
    writeFileSync(join(folder, 'meta', '_journal.json'), JSON.stringify({ version: '7', dialect: 'sqlite', entries: [{ idx: 0, version: '6', when: 1, tag: '0000_bad', breakpoints: true }] }));
    writeFileSync(join(folder, '0000_bad.sql'), 'CREATE TABLE oops (;');
    const path = join(dir, 'app.db');
    symlinkSync(join(dir, 'elsewhere.db'), path);
    expect(existsSync(path)).toBe(false);
    expect(() => initializeDatabase(path, { schema, migrationsFolder: folder })).toThrow();
    expect(lstatSync(path).isSymbolicLink()).toBe(true);
  });

  it('refuses an adapter it does not know with a TypeError, before opening anything', () => {
    const path = `${tempDir()}/app.db`;
    const call = () => initializeDatabase(path, { adapter: 'sqlite3' as AdapterName });
    expect(call).toThrow(TypeError);
    expect(call).toThrow(/unknown SQLite adapter "sqlite3" \(expected better-sqlite3, node:sqlite or sqlite-wasm\)/);
    expect(existsSync(path)).toBe(false);
  });
});
