/**
 * The bench table: a UUIDv7 text key and four value columns (text, integer, integer, real). The
 * synced table and the plain one are created by the same DDL, so they differ only in capture.
 */
import { integer, real, text } from 'drizzle-orm/sqlite-core';
import { defineSyncedTable } from '../src/index.ts';

export const SYNCED_TABLE = 'items';
export const PLAIN_TABLE = 'plain';
export const COLUMNS = ['id', 'name', 'qty', 'rank', 'price'] as const;

export const items = defineSyncedTable(SYNCED_TABLE, {
  id: text('id').primaryKey(),
  name: text('name'),
  qty: integer('qty'),
  rank: integer('rank'),
  price: real('price'),
});

export const benchSchema = { items };

export function createTableSql(name: string): string {
  return `CREATE TABLE "${name}" (id text PRIMARY KEY NOT NULL, name text, qty integer, rank integer, price real)`;
}

/** The statements every phase runs, for either table. */
export function statementsSql(name: string): { insert: string; update: string; delete: string; upsert: string; selectAll: string } {
  const t = `"${name}"`;
  return {
    insert: `INSERT INTO ${t} (id, name, qty, rank, price) VALUES (?, ?, ?, ?, ?)`,
    update: `UPDATE ${t} SET qty = ? WHERE id = ?`,
    delete: `DELETE FROM ${t} WHERE id = ?`,
    upsert: `INSERT INTO ${t} (id, name, qty, rank, price) VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name, qty = excluded.qty, rank = excluded.rank, price = excluded.price`,
    selectAll: `SELECT * FROM ${t}`,
  };
}
