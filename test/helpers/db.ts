import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { initializeDatabase, type AhenkDatabase } from '../../src/index.ts';
import { openConnection, type SqliteConnection } from '../../src/sqlite/index.ts';
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

/**
 * A plain connection to `path` (or ':memory:') through the storage port, with the adapter the
 * suite runs on (AHENK_SQLITE: better-sqlite3 by default, node:sqlite on Node 22). Integers read
 * as bigint; `.value()` is the first column of the first row. Closed after the test.
 */
export function openRaw(path: string): SqliteConnection {
  const connection = openConnection(path);
  cleanups.push(() => connection.close());
  return connection;
}

/** A device database on disk with the test schema, closed after the test. */
export function openDevice(name = 'device', dir = tempDir()): AhenkDatabase<typeof schema> & { path: string } {
  const path = join(dir, `${name}.db`);
  const pre = openConnection(path);
  pre.exec(CREATE_TABLES);
  pre.close();
  const db = initializeDatabase(path, { schema });
  cleanups.push(() => db.$connection.close());
  return Object.assign(db, { path });
}

/** Every row of a table with storage classes, ordered by key: compares databases exactly. */
export function dump(db: { $connection: SqliteConnection }, table: string): unknown[] {
  const cols = (db.$connection.prepare(`SELECT name FROM pragma_table_info(?)`).all(table) as { name: string }[]).map((c) => c.name);
  const select = cols.map((c) => `"${c}", typeof("${c}") AS "${c}:type"`).join(', ');
  // Plain objects: node:sqlite gives rows a null prototype.
  return db.$connection.prepare(`SELECT ${select} FROM "${table}" ORDER BY 1`).all().map((row) => ({ ...row }));
}

/** What `fn` throws (undefined if it returns). */
export function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

/**
 * The database file's bytes once every committed write is checkpointed into it: what the
 * connection sees, byte for byte (a rolled-back write leaves no committed frame in the WAL).
 */
export function fileImage(db: { $connection: SqliteConnection; path: string }): Buffer {
  db.$connection.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  return readFileSync(db.path);
}

/** Records a peer that acknowledged our log up to `acked` (null: not yet), as a sync session does. */
export function peerAcknowledged(db: { $connection: SqliteConnection }, acked: bigint | string | null, peerId = 'test-peer'): void {
  db.$connection.prepare('INSERT INTO ahenk_cursors (peer_id, acked) VALUES (?, ?) ON CONFLICT (peer_id) DO UPDATE SET acked = excluded.acked').run(peerId, acked === null ? null : BigInt(acked));
}
