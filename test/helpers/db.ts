import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach } from 'vitest';
import { initializeDatabase, type AhenkDatabase } from '../../src/index.ts';
import { CREATE_TABLES, schema } from './schema.ts';

const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!();
});

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ahenk-test-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A device database on disk with the test schema, closed after the test. */
export function openDevice(name = 'device', dir = tempDir()): AhenkDatabase<typeof schema> & { path: string } {
  const path = join(dir, `${name}.db`);
  const pre = new Database(path);
  pre.exec(CREATE_TABLES);
  pre.close();
  const db = initializeDatabase(path, { schema });
  cleanups.push(() => db.$client.open && db.$client.close());
  return Object.assign(db, { path });
}

/** Every row of a table with storage classes, ordered by key: compares databases exactly. */
export function dump(db: { $client: Database.Database }, table: string): unknown[] {
  const cols = (db.$client.prepare(`SELECT name FROM pragma_table_info(?)`).all(table) as { name: string }[]).map((c) => c.name);
  const select = cols.map((c) => `"${c}", typeof("${c}") AS "${c}:type"`).join(', ');
  return db.$client.prepare(`SELECT ${select} FROM "${table}" ORDER BY 1`).safeIntegers(true).all();
}
