/**
 * Opening the databases a phase compares: a synced one (Ahenk's connection from
 * initializeDatabase) and a plain one on a connection with exactly Ahenk's pragmas, read back
 * from Ahenk's connection so the comparison stays fair when initializeDatabase changes them.
 * Both go through openConnection with the adapter the caller names, so both sides run on the same driver.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { initializeDatabase, type AhenkDatabase } from '../src/index.ts';
import { openConnection, type AdapterName, type SqliteConnection } from '../src/sqlite/index.ts';
import { benchSchema, createTableSql, PLAIN_TABLE, SYNCED_TABLE } from './schema.ts';

export type SyncedDatabase = AhenkDatabase<typeof benchSchema>;

/** Connection settings that change how fast a write is; page_size and auto_vacuum go first (before any table). */
const PRAGMAS = [
  'page_size',
  'auto_vacuum',
  'journal_mode',
  'synchronous',
  'temp_store',
  'cache_size',
  'cache_spill',
  'mmap_size',
  'busy_timeout',
  'foreign_keys',
  'recursive_triggers',
  'secure_delete',
  'automatic_index',
  'locking_mode',
] as const;

export type Pragmas = Record<(typeof PRAGMAS)[number], unknown>;

export function pragmasOf(raw: SqliteConnection): Pragmas {
  return Object.fromEntries(PRAGMAS.map((name) => [name, raw.pragma(name)])) as Pragmas;
}

let fileCounter = 0;

/** A fresh file name in dir (each phase of each run gets its own databases). */
export function freshPath(dir: string, label: string): string {
  fileCounter += 1;
  return join(dir, `${label}-${fileCounter}.db`);
}

/** The synced table is made with plain SQL first, as an app's migration would, then Ahenk opens the file. */
export function openSynced(path: string, adapter: AdapterName): SyncedDatabase {
  const pre = openConnection(path, { adapter });
  pre.exec(createTableSql(SYNCED_TABLE));
  pre.close();
  return initializeDatabase(path, { schema: benchSchema, adapter });
}

/** The plain table in its own file, on a connection of `adapter` configured exactly like `like`. */
export function openPlain(path: string, like: Pragmas, adapter: AdapterName): SqliteConnection {
  const raw = openConnection(path, { adapter });
  for (const name of PRAGMAS) {
    const value = like[name];
    if (raw.pragma(name) !== value) raw.exec(`PRAGMA ${name} = ${String(value)}`);
  }
  const got = pragmasOf(raw);
  const differ = PRAGMAS.filter((name) => got[name] !== like[name]);
  if (differ.length > 0) throw new Error(`plain connection could not match Ahenk's pragmas: ${differ.map((n) => `${n}=${String(got[n])} (want ${String(like[n])})`).join(', ')}`);
  raw.exec(createTableSql(PLAIN_TABLE));
  return raw;
}

/** Closes connections and deletes a database file with its WAL and shared-memory files. */
export function discard(paths: readonly string[], ...connections: SqliteConnection[]): void {
  for (const c of connections) c.close();
  for (const p of paths) for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(p + suffix, { force: true });
}
