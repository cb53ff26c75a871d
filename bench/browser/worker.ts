// The browser bench's worker: times Ahenk's capture and merge on OPFS (SAH pool) against plain
// SQLite in the same database, each round with fresh keys of one kind (random UUIDv4 or
// time-ordered UUIDv7), and posts every round's figures (the driver takes medians).
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

type KeyKind = 'v4' | 'v7';

/** UUIDv7 (RFC 9562): 48-bit Unix ms, a 12-bit counter within the ms, random bits: increasing in generation order. */
function uuidv7Keys(): () => string {
  let lastMs = -1;
  let counter = 0;
  const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return () => {
    let ms = Date.now();
    if (ms > lastMs) {
      lastMs = ms;
      counter = 0;
    } else if (counter < 0xfff) {
      counter++;
      ms = lastMs;
    } else {
      ms = ++lastMs;
      counter = 0;
    }
    const time = ms.toString(16).padStart(12, '0');
    const random = crypto.getRandomValues(new Uint8Array(8));
    random[0] = 0x80 | (random[0]! & 0x3f);
    const tail = hex(random);
    return `${time.slice(0, 8)}-${time.slice(8)}-7${counter.toString(16).padStart(3, '0')}-${tail.slice(0, 4)}-${tail.slice(4)}`;
  };
}

function freshKeys(kind: KeyKind, n: number): string[] {
  const next = kind === 'v7' ? uuidv7Keys() : () => crypto.randomUUID();
  return Array.from({ length: n }, next);
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

/** One round of a key kind: figures in ms. */
export interface BenchRound {
  kind: KeyKind;
  plainInsertMs: number;
  syncedInsertMs: number;
  plainUpdateMs: number;
  syncedUpdateMs: number;
  memoryPlainInsertMs: number;
  memorySyncedInsertMs: number;
  memoryPlainUpdateMs: number;
  memorySyncedUpdateMs: number;
  exportMs: number;
  mergeMs: number;
  upsertMs: number;
  merged: number;
}

async function run(rows: number, mergeRows: number, rounds: number): Promise<{ journal: string; rounds: BenchRound[] }> {
  await loadSqliteWasm();
  const db = await openOpfsDatabase({ schema, migrations, file: '/bench.db', directory: '.ahenk-bench' });
  const raw = db.$connection;
  raw.exec(CREATE('plain'));
  const journal = String(raw.pragma('journal_mode'));
  // A warm-up round in both tables first (the pool's files grow, the page cache fills).
  const warm = freshKeys('v4', Math.min(rows, 2 * BATCH));
  writeAll(raw, 'plain', warm);
  writeAll(raw, 'items', warm);
  const memory = initializeDatabase(openConnection(':memory:', { adapter: 'sqlite-wasm' }), { schema, migrations }).$connection;
  memory.exec(CREATE('plain'));
  writeAll(memory, 'plain', warm);
  writeAll(memory, 'items', warm);
  const results: BenchRound[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const kind of ['v4', 'v7'] as const) {
      // Plain and synced take turns at going first, each with fresh keys; the tables keep growing
      // by the same rows, so both see the same sizes.
      const first = round % 2 === 0 ? 'plain' : 'items';
      const second = first === 'plain' ? 'items' : 'plain';
      const opfs = { [first]: writeAll(raw, first, freshKeys(kind, rows)), [second]: writeAll(raw, second, freshKeys(kind, rows)) };
      // The same in memory: what is WebAssembly's CPU and what is OPFS's I/O.
      const inMemory = { plain: writeAll(memory, 'plain', freshKeys(kind, rows)), items: writeAll(memory, 'items', freshKeys(kind, rows)) };
      results.push({ kind, ...(await mergeRound(kind, mergeRows, round)), ...figures(opfs as Written, inMemory) });
    }
  }
  raw.close();
  memory.close();
  return { journal, rounds: results };
}

type Written = Record<'plain' | 'items', { insert: number; update: number }>;

function figures(opfs: Written, memory: Written) {
  return {
    plainInsertMs: opfs.plain.insert,
    syncedInsertMs: opfs.items.insert,
    plainUpdateMs: opfs.plain.update,
    syncedUpdateMs: opfs.items.update,
    memoryPlainInsertMs: memory.plain.insert,
    memorySyncedInsertMs: memory.items.insert,
    memoryPlainUpdateMs: memory.plain.update,
    memorySyncedUpdateMs: memory.items.update,
  };
}

/**
 * A source of `mergeRows` row deltas (an in-memory sqlite-wasm database), exported, then merged in
 * one call into an empty OPFS database (a pool of its own per round), against a plain upsert of the
 * same rows into an empty table of that database.
 */
async function mergeRound(kind: KeyKind, mergeRows: number, round: number) {
  const source = initializeDatabase(openConnection(':memory:', { adapter: 'sqlite-wasm' }), { schema, migrations });
  const sourceKeys = freshKeys(kind, mergeRows);
  source.$connection.transaction(() => {
    const insert = source.$connection.prepare('INSERT INTO items (id, title, n) VALUES (?, ?, ?)');
    sourceKeys.forEach((key, i) => insert.run(key, `item ${i}`, BigInt(i)));
  });
  let entries: unknown[] = [];
  const exportMs = timed(() => {
    entries = getOplogEntriesSince(source).entries;
  });
  source.$connection.close();
  const target = await openOpfsDatabase({ schema, migrations, file: '/merge.db', directory: `.ahenk-bench-merge-${kind}-${round}` });
  target.$connection.exec(CREATE('plain'));
  const mergeMs = timed(() => merge(target, entries));
  const upsert = target.$connection.prepare('INSERT INTO plain (id, title, n) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET title = excluded.title, n = excluded.n');
  const upsertMs = timed(() => target.$connection.transaction(() => sourceKeys.forEach((key, i) => upsert.run(key, `item ${i}`, BigInt(i)))));
  const merged = Number(target.$connection.prepare('SELECT count(*) FROM items').value());
  target.$connection.close();
  return { exportMs, mergeMs, upsertMs, merged };
}

const scope = globalThis as unknown as { onmessage: (event: { data: { rows: number; mergeRows: number; rounds: number } }) => void; postMessage(message: unknown): void };
scope.onmessage = (event) => {
  run(event.data.rows, event.data.mergeRows, event.data.rounds).then(
    (result) => scope.postMessage({ ok: true, result }),
    (error: Error) => scope.postMessage({ ok: false, error: `${error.name}: ${error.message}\n${error.stack}` }),
  );
};
