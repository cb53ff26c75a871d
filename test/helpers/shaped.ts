/**
 * Databases whose tables exercise merge's mask code (40 columns, 31 columns, a dropped column, a
 * CHECK), and checks shared by the model, split-index and edge tests of the 2026-11-26 review.
 */
import { join } from 'node:path';
import { integer, text } from 'drizzle-orm/sqlite-core';
import { expect } from 'vitest';
import { defineSyncedTable, getOplogEntriesSince, initializeDatabase, type OplogEntry } from '../../src/index.ts';
import { foldOplog } from '../../src/oplog/fold.ts';
import { keyTextSql, packKeySql } from '../../src/oplog/log-key.ts';
import { openConnection } from '../../src/sqlite/index.ts';
import { openDevice, tempDir } from './db.ts';
import { todos } from './schema.ts';

// ---------------------------------------------------------------------------------------------
// Databases with tables that exercise the mask code: 40 columns (no number masks), 31 (the widest
// with number masks: bit 30), and one whose column b was dropped (bits by table.columns index, not
// by liveColumns position).
export const WIDE = Array.from({ length: 40 }, (_, i) => `c${i}`);
export const W31 = Array.from({ length: 31 }, (_, i) => `d${i}`);
export const w31 = defineSyncedTable('w31', { id: text('id').primaryKey(), ...Object.fromEntries(W31.map((c) => [c, text(c)])) });
export const wide = defineSyncedTable('wide', { id: text('id').primaryKey(), ...Object.fromEntries(WIDE.map((c) => [c, text(c)])) });
export const slimBefore = defineSyncedTable('slim', { id: text('id').primaryKey(), a: text('a'), b: text('b'), c: text('c'), d: text('d') });
export const slim = defineSyncedTable('slim', { id: text('id').primaryKey(), a: text('a'), c: text('c'), d: text('d') });
export const checked = defineSyncedTable('checked', { id: text('id').primaryKey(), n: integer('n'), s: text('s') });
export const CREATE = `
CREATE TABLE IF NOT EXISTS todos (id text PRIMARY KEY NOT NULL, title text DEFAULT '' NOT NULL, done integer DEFAULT 0 NOT NULL, score real, data blob);
CREATE TABLE IF NOT EXISTS wide (id text PRIMARY KEY NOT NULL, ${WIDE.map((c) => `${c} text`).join(', ')});
CREATE TABLE IF NOT EXISTS w31 (id text PRIMARY KEY NOT NULL, ${W31.map((c) => `${c} text`).join(', ')});
CREATE TABLE IF NOT EXISTS slim (id text PRIMARY KEY NOT NULL, a text, b text, c text, d text);
CREATE TABLE IF NOT EXISTS checked (id text PRIMARY KEY NOT NULL, n integer CHECK (n >= 0), s text);
`;
export const schemaAfter = { todos, wide, w31, slim, checked };
export type Db = ReturnType<typeof initializeDatabase<typeof schemaAfter>>;
export const opened: Db[] = [];

/** todos, wide, w31, slim and checked; slim.b was registered for capture and then dropped. */
export function openShaped(name: string, dir = tempDir()): Db {
  const path = join(dir, `${name}.db`);
  const pre = openConnection(path);
  pre.exec(CREATE);
  pre.close();
  initializeDatabase(path, { schema: { todos, wide, w31, slim: slimBefore, checked } }).$connection.close();
  const raw = openConnection(path);
  for (const t of ['insert', 'update', 'update_key', 'delete']) raw.exec(`DROP TRIGGER IF EXISTS ahenk_slim_${t}`);
  raw.exec('ALTER TABLE slim DROP COLUMN b');
  raw.close();
  const db = initializeDatabase(path, { schema: schemaAfter });
  opened.push(db);
  return db;
}

export function closeAll(): void {
  while (opened.length > 0) {
    const db = opened.pop()!;
    if (db.$connection.isOpen) db.$connection.close();
  }
}

/** Every value with its storage class, so 1 and 1.0 or text and blob never compare equal. */
export function show(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'bigint') return `i:${v}`;
  if (typeof v === 'number') return `r:${v}`;
  if (typeof v === 'string') return `t:${v}`;
  if (v instanceof Uint8Array) return `b:${Buffer.from(v).toString('hex')}`;
  return `?:${String(v)}`;
}

export const COLUMNS: Record<string, readonly string[]> = { todos: ['title', 'done', 'score', 'data'], wide: WIDE, w31: W31, slim: ['a', 'c', 'd'] };
export const DEFAULTS: Record<string, Record<string, string>> = { todos: { title: 't:', done: 'i:0' } };

export function tableRows(db: Db, table: string): Record<string, string[]> {
  const cols = COLUMNS[table]!;
  const rows = db.$connection.prepare(`SELECT id, ${cols.join(', ')} FROM ${table} ORDER BY id`).values();
  return Object.fromEntries(rows.map((r) => [r[0] as string, r.slice(1).map(show)]));
}


/** The split indexes' contract, after a fold: ix = (cl > 1), and triggers' max(cl) over ix = 1 is the row's. */
export function checkSplitIndex(db: Db, legacy = false): void {
  const raw = db.$connection;
  foldOplog(raw);
  expect(raw.prepare('SELECT count(*) FROM ahenk_oplog WHERE ix IS NULL').value()).toBe(0n);
  expect(raw.prepare('SELECT count(*) FROM ahenk_oplog WHERE ix = 0 AND cl > 1').value()).toBe(0n);
  if (!legacy) expect(raw.prepare('SELECT count(*) FROM ahenk_oplog WHERE ix = 1 AND cl = 1').value()).toBe(0n);
  // Key forms (src/oplog/log-key.ts): a canonical UUID key is packed in the history index, and only there.
  expect(raw.prepare(`SELECT count(*) FROM ahenk_oplog WHERE typeof(pk) = 'blob' AND (ix != 0 OR length(pk) != 16)`).value()).toBe(0n);
  expect(raw.prepare(`SELECT count(*) FROM ahenk_oplog WHERE ix = 0 AND ${packKeySql('pk')} IS NOT pk`).value()).toBe(0n);
  // A row's entries by its key's text, whichever form each holds it in; the triggers read the text.
  const wrong = raw
    .prepare(
      `SELECT tbl, k, max(cl) AS row_cl, coalesce((SELECT max(cl) FROM ahenk_oplog i WHERE i.tbl = o.tbl AND i.pk = o.k AND i.ix = 1), 1) AS trigger_cl
       FROM (SELECT tbl, ${keyTextSql('pk')} AS k, cl FROM ahenk_oplog) o GROUP BY tbl, k HAVING row_cl != trigger_cl`,
    )
    .all();
  expect(wrong).toEqual([]);
}

/** Each window's entries: a row's entries side by side; no (row, stamp, device) twice across windows. */
export function exportInWindows(db: Db, limit: number): { windows: OplogEntry[][]; cursor: string } {
  const windows: OplogEntry[][] = [];
  const seen = new Set<string>();
  let cursor = '';
  const max = String(db.$connection.prepare('SELECT coalesce(max(seq), 0) FROM ahenk_oplog').value());
  for (let guard = 0; guard < 10_000; guard++) {
    const { entries, cursor: next } = getOplogEntriesSince(db, cursor, { limit });
    const rows: string[] = [];
    for (const e of entries) {
      const row = `${e.table}\u0000${e.pk}`;
      if (rows.at(-1) !== row) {
        expect(rows, `row ${row} split inside one window`).not.toContain(row);
        rows.push(row);
      }
      for (const g of e.groups) {
        const id = `${row}\u0000${g.hlc}\u0000${g.device}\u0000${e.cl}`;
        expect(seen.has(id), `entry ${id} exported twice`).toBe(false);
        seen.add(id);
      }
    }
    windows.push(entries);
    if (next === cursor || next === max) {
      cursor = next;
      break;
    }
    cursor = next;
  }
  expect(cursor).toBe(max);
  return { windows, cursor };
}

export type Dev = ReturnType<typeof openDevice>;

/** An hour ago: stamps of peer entries in the tests, well inside the drift allowance. */
export const T = Date.now() - 3_600_000;
