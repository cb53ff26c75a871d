import Database from 'better-sqlite3';
import { eq, relations } from 'drizzle-orm';
import { integer, text } from 'drizzle-orm/sqlite-core';
import { describe, expect, it } from 'vitest';
import { DatabaseError, defineSyncedTable, getOplogEntriesSince, getSchemaVersion, initializeDatabase, KNOWN_SCHEMA_VERSION } from '../src/index.ts';
import { tempDir } from './helpers/db.ts';

const lists = defineSyncedTable('lists', { id: text('id').primaryKey(), name: text('name') });
// A relation without a foreign key: rows may arrive in any order, so the link is logical.
const items = defineSyncedTable('items', { id: text('id').primaryKey(), listId: text('list_id'), qty: integer('qty') });
const listsRelations = relations(lists, ({ many }) => ({ items: many(items) }));
const itemsRelations = relations(items, ({ one }) => ({ list: one(lists, { fields: [items.listId], references: [lists.id] }) }));
const schema = { lists, items, listsRelations, itemsRelations };

describe('initializeDatabase', () => {
  it('gives a Drizzle database where synced tables work with queries and relations', () => {
    const path = `${tempDir()}/app.db`;
    const pre = new Database(path);
    pre.exec(`CREATE TABLE lists (id text PRIMARY KEY NOT NULL, name text); CREATE TABLE items (id text PRIMARY KEY NOT NULL, list_id text, qty integer)`);
    pre.close();
    const db = initializeDatabase(path, { schema });
    db.insert(lists).values({ id: 'l1', name: 'groceries' }).run();
    db.insert(items).values([{ id: 'i1', listId: 'l1', qty: 2 }, { id: 'i2', listId: 'l1', qty: 1 }]).run();
    db.update(items).set({ qty: 3 }).where(eq(items.id, 'i2')).run();
    db.delete(items).where(eq(items.id, 'i1')).run();
    const found = db.query.lists.findFirst({ with: { items: true } }).sync();
    expect(found).toEqual({ id: 'l1', name: 'groceries', items: [{ id: 'i2', listId: 'l1', qty: 3 }] });
    expect(getOplogEntriesSince(db).entries.map((e) => [e.table, e.pk, e.op])).toEqual([
      ['lists', 'l1', 'insert'],
      ['items', 'i2', 'insert'],
      ['items', 'i2', 'update'],
      ['items', 'i1', 'delete'],
    ]);
    expect(db.$client.pragma('journal_mode', { simple: true })).toBe('wal');
    db.$client.close();
  });

  it('is an idempotent upgrade when opened again, and records the schema version', () => {
    const path = `${tempDir()}/app.db`;
    const first = initializeDatabase(path);
    expect(getSchemaVersion(first)).toBe(KNOWN_SCHEMA_VERSION);
    const tables = first.$client.prepare(`SELECT name, sql FROM sqlite_master ORDER BY name`).all();
    first.$client.close();
    const second = initializeDatabase(path);
    expect(second.$client.prepare(`SELECT name, sql FROM sqlite_master ORDER BY name`).all()).toEqual(tables);
    second.$client.close();
  });

  it('refuses a database written by a newer Ahenk, and a synced table missing from the file', () => {
    const path = `${tempDir()}/app.db`;
    const db = initializeDatabase(path);
    db.$client.prepare(`INSERT INTO __ahenk_migrations (hash, created_at) VALUES ('future', 9999999999999)`).run();
    db.$client.close();
    expect(() => initializeDatabase(path)).toThrow(DatabaseError);
    expect(() => initializeDatabase(path)).toThrow(/newer than this Ahenk/);
    expect(() => initializeDatabase(`${tempDir()}/b.db`, { schema })).toThrow(/synced table "lists" does not exist in the database; apply your migrations first/);
  });
});
