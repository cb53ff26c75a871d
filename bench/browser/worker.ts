// The browser bench's worker: times Ahenk's capture and merge on OPFS (SAH pool) against plain
// SQLite in the same database, and posts the figures. Keys are random UUIDv4 (the harder case).
import { text, integer } from 'drizzle-orm/sqlite-core';
import { openOpfsDatabase } from '../../src/browser/worker.ts';
import { getOplogEntriesSince } from '../../src/database/exchange.ts';
import { initializeDatabase } from '../../src/database/initialize.ts';
import { merge } from '../../src/merge/merge.ts';
import { defineSyncedTable } from '../../src/schema/index.ts';
import { loadSqliteWasm, openConnection, type SqliteConnection } from '../../src/sqlite/index.ts';

const items = defineSyncedTable('items', { id: text('id').primaryKey(), title: text('title').notNull().default(''), n: integer('n').notNull().default(0) });
const schema = { items };
const CREATE = (name: string) => `CREATE TABLE IF NOT EXISTS ${name} (id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL DEFAULT '', n INTEGER NOT NULL DEFAULT 0)`;
/** The app's one migration, as a bundle carries it. */
const migrations = [{ sql: [CREATE('items')], bps: true, folderMillis: 1, hash: '' }];
/** Rows per transaction: each durable commit on OPFS costs milliseconds, so never one per row. */
const BATCH = 1000;

function timed(body: () => void): number {
  const start = performance.now();
  body();
  return performance.now() - start;
}

function writeAll(raw: SqliteConnection, table: string, keys: readonly string[]): { insert: number; update: number } {
  const insert = raw.prepare(`INSERT INTO ${table} (id, title, n) VALUES (?, ?, ?)`);
  const update = raw.prepare(`UPDATE ${table} SET n = n + 1 WHERE id = ?`);
  const batches = (fn: (key: string, i: number) => void) => () => {
    for (let at = 0; at < keys.length; at += BATCH) raw.transaction(() => keys.slice(at, at + BATCH).forEach(fn));
  };
  return {
    insert: timed(batches((key, i) => insert.run(key, `item ${i}`, BigInt(i)))),
    update: timed(batches((key) => update.run(key))),
  };
}

async function run(rows: number, mergeRows: number): Promise<Record<string, number>> {
  await loadSqliteWasm();
  const db = await openOpfsDatabase({ schema, migrations, file: '/bench.db', directory: '.ahenk-bench' });
  const raw = db.$connection;
  raw.exec(CREATE('plain'));
  const journal = String(raw.pragma('journal_mode'));
  // A warm-up round in both tables first (the pool's files grow, the page cache fills), then the
  // measured rounds with fresh keys, plain and synced taking turns.
  const fresh = () => Array.from({ length: rows }, () => crypto.randomUUID());
  const warm = fresh().slice(0, Math.min(rows, 2 * BATCH));
  writeAll(raw, 'plain', warm);
  writeAll(raw, 'items', warm);
  const plainRuns = [writeAll(raw, 'plain', fresh())];
  const syncedRuns = [writeAll(raw, 'items', fresh())];
  plainRuns.push(writeAll(raw, 'plain', fresh()));
  syncedRuns.push(writeAll(raw, 'items', fresh()));
  const best = (runs: { insert: number; update: number }[]) => ({ insert: Math.min(...runs.map((r) => r.insert)), update: Math.min(...runs.map((r) => r.update)) });
  const plain = best(plainRuns);
  const synced = best(syncedRuns);
  raw.close();

  // The same rounds in memory: what is WebAssembly's CPU and what is OPFS's I/O.
  const memory = initializeDatabase(openConnection(':memory:', { adapter: 'sqlite-wasm' }), { schema, migrations }).$connection;
  memory.exec(CREATE('plain'));
  writeAll(memory, 'plain', warm);
  writeAll(memory, 'items', warm);
  const memoryPlain = writeAll(memory, 'plain', fresh());
  const memorySynced = writeAll(memory, 'items', fresh());
  memory.close();

  // A source of mergeRows row deltas (an in-memory sqlite-wasm database), then one merge into an
  // empty OPFS database, against a plain upsert of the same rows.
  const source = initializeDatabase(openConnection(':memory:', { adapter: 'sqlite-wasm' }), { schema, migrations });
  const sourceKeys = Array.from({ length: mergeRows }, () => crypto.randomUUID());
  source.$connection.transaction(() => {
    const insert = source.$connection.prepare('INSERT INTO items (id, title, n) VALUES (?, ?, ?)');
    sourceKeys.forEach((key, i) => insert.run(key, `item ${i}`, BigInt(i)));
  });
  let entries: unknown[] = [];
  const exportMs = timed(() => {
    entries = getOplogEntriesSince(source).entries;
  });
  const target = await openOpfsDatabase({ schema, migrations, file: '/merge.db', directory: '.ahenk-bench' });
  target.$connection.exec(CREATE('plain'));
  const mergeMs = timed(() => merge(target, entries));
  const upsert = target.$connection.prepare('INSERT INTO plain (id, title, n) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET title = excluded.title, n = excluded.n');
  const upsertMs = timed(() => target.$connection.transaction(() => sourceKeys.forEach((key, i) => upsert.run(key, `item ${i}`, BigInt(i)))));
  const merged = Number(target.$connection.prepare('SELECT count(*) FROM items').value());
  target.$connection.close();
  source.$connection.close();
  return {
    rows,
    plainInsertMs: plain.insert,
    syncedInsertMs: synced.insert,
    plainUpdateMs: plain.update,
    syncedUpdateMs: synced.update,
    memoryPlainInsertMs: memoryPlain.insert,
    memorySyncedInsertMs: memorySynced.insert,
    memoryPlainUpdateMs: memoryPlain.update,
    memorySyncedUpdateMs: memorySynced.update,
    mergeRows,
    exportMs,
    mergeMs,
    upsertMs,
    merged,
    journal: journal as unknown as number,
  };
}

const scope = globalThis as unknown as { onmessage: (event: { data: { rows: number; mergeRows: number } }) => void; postMessage(message: unknown): void };
scope.onmessage = (event) => {
  run(event.data.rows, event.data.mergeRows).then(
    (result) => scope.postMessage({ ok: true, result }),
    (error: Error) => scope.postMessage({ ok: false, error: `${error.name}: ${error.message}\n${error.stack}` }),
  );
};
