/**
 * initializeDatabase with what an app really has at hand: a file another process is writing, a
 * node:sqlite DatabaseSync opened with its own options or subclassed, a better-sqlite3 Database
 * from another copy of the package.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join, sep } from 'node:path';
import { text } from 'drizzle-orm/sqlite-core';
import { describe, expect, it } from 'vitest';
import { defineSyncedTable, getOplogEntriesSince, initializeDatabase, merge } from '../../src/index.ts';
import { defaultAdapter, openConnection, type DriverConnection, type SqliteConnection } from '../../src/sqlite/index.ts';
import { cellsOf } from '../helpers/entries.ts';
import { openRaw, tempDir } from '../helpers/db.ts';

const notes = defineSyncedTable('notes', { id: text('id').primaryKey(), body: text('body') });
const schema = { notes };
const CREATE_NOTES = 'CREATE TABLE notes (id text PRIMARY KEY NOT NULL, body text)';
const require = createRequire(import.meta.url);

/** A file with the app's table, as the app left it (rollback journal, not yet WAL). */
function appFile(dir = tempDir()): string {
  const path = join(dir, 'app.db');
  const pre = openConnection(path);
  pre.exec(CREATE_NOTES);
  pre.close();
  return path;
}

/** The database works as a device: a write is captured, exported, and merges into another. */
function expectWorks(db: ReturnType<typeof initializeDatabase<typeof schema>>, id: string): void {
  db.insert(notes).values({ id, body: 'hello' }).run();
  const entries = getOplogEntriesSince(db).entries;
  expect(entries.map((e) => [e.table, e.pk, e.cl, cellsOf(e)])).toEqual([['notes', id, 1, { body: 'hello' }]]);
  const peer = initializeDatabase(appFile(), { schema });
  try {
    merge(peer, entries);
    expect(peer.select().from(notes).all()).toEqual([{ id, body: 'hello' }]);
  } finally {
    peer.$connection.close();
  }
}

/**
 * Another process that opens `path`, takes an exclusive lock (readers and writers wait), and
 * commits after `holdMs`. Resolves once the lock is held; `done` when the process has ended.
 */
async function holdLock(path: string, holdMs: number): Promise<{ done: Promise<number | null>; stop: () => Promise<void> }> {
  // node:sqlite where this Node has it, else better-sqlite3 (Node 20): the lock is SQLite's either way.
  const betterSqlite3 = process.env.AHENK_BETTER_SQLITE3_ENTRY ?? require.resolve('better-sqlite3');
  const code = `
    let db;
    try { db = new (require('node:sqlite').DatabaseSync)(${JSON.stringify(path)}); } catch { db = new (require(${JSON.stringify(betterSqlite3)}))(${JSON.stringify(path)}); }
    db.exec('BEGIN EXCLUSIVE');
    db.exec("INSERT INTO notes VALUES ('held', 'by another process')");
    process.stdout.write('locked\\n');
    setTimeout(() => { db.exec('COMMIT'); db.close(); }, ${holdMs});`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const done = new Promise<number | null>((resolve) => child.once('close', resolve));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await done;
    }
  };
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => chunk.includes('locked') && resolve());
      void done.then(() => reject(new Error(`the lock holder ended before locking: ${stderr}`)));
      setTimeout(() => reject(new Error(`the lock holder did not lock within 10 s: ${stderr}`)), 10_000).unref();
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { done, stop };
}

/** The other process holds the lock right now: a connection that does not wait cannot even read. */
function expectLocked(connection: SqliteConnection): void {
  expect(() => connection.prepare('SELECT count(*) FROM notes').value()).toThrow(/locked/);
}

describe(`initializeDatabase while another process holds the file's lock for a second (${defaultAdapter()})`, () => {
  it('waits for the lock when opening a path, instead of failing at once', async () => {
    const path = appFile();
    const probe = openRaw(path);
    probe.exec('PRAGMA busy_timeout = 0');
    const holder = await holdLock(path, 1000);
    try {
      expectLocked(probe);
      const started = performance.now();
      const db = initializeDatabase(path, { schema });
      const waited = performance.now() - started;
      try {
        expect(waited).toBeLessThan(5000);
        expect(db.select().from(notes).all()).toEqual([{ id: 'held', body: 'by another process' }]);
        expect(db.$connection.pragma('journal_mode')).toBe('wal');
      } finally {
        db.$connection.close();
      }
      expect(await holder.done).toBe(0);
    } finally {
      await holder.stop();
    }
  });

  it('waits too on a connection the app opened with no busy timeout', async () => {
    const path = appFile();
    const opened = openRaw(path);
    opened.exec('PRAGMA busy_timeout = 0');
    const holder = await holdLock(path, 1000);
    try {
      expectLocked(opened);
      const started = performance.now();
      const db = initializeDatabase(opened.driver.client, { schema });
      const waited = performance.now() - started;
      expect(waited).toBeLessThan(5000);
      expect(db.select().from(notes).all()).toEqual([{ id: 'held', body: 'by another process' }]);
      expect(await holder.done).toBe(0);
    } finally {
      await holder.stop();
    }
  });
});

const nodeSqlite = process.getBuiltinModule?.('node:sqlite') as typeof import('node:sqlite') | undefined;
const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
const hasNodeSqlite = nodeSqlite !== undefined && (major > 22 || (major === 22 && minor >= 16));

describe.skipIf(!hasNodeSqlite)(`a DatabaseSync the app opened (needs node:sqlite: Node 22.16+, this is ${process.versions.node})`, () => {
  it('works when the app opened it with { returnArrays: true }, and the app keeps its arrays', () => {
    const handle = new nodeSqlite!.DatabaseSync(appFile(), { returnArrays: true });
    const db = initializeDatabase(handle, { schema });
    try {
      expect(db.$connection.adapter).toBe('node:sqlite');
      expectWorks(db, 'n1');
      // What the app prepares itself is still in the mode it asked for.
      expect(handle.prepare('SELECT id, body FROM notes').get()).toEqual(['n1', 'hello']);
    } finally {
      db.$connection.close();
    }
  });

  it("accepts the app's subclass of DatabaseSync", () => {
    class AppDatabase extends nodeSqlite!.DatabaseSync {
      readonly opened = 'by the app';
    }
    const handle = new AppDatabase(appFile());
    const db = initializeDatabase(handle, { schema });
    try {
      expect(db.$client).toBe(handle);
      expect(db.$connection.adapter).toBe('node:sqlite');
      expectWorks(db, 'n2');
    } finally {
      db.$connection.close();
    }
  });
});

/**
 * better-sqlite3 loaded a second time, as an app that pins its own copy has it: the same files
 * required afresh give another Database class (the native addon, already loaded, is shared).
 */
function secondCopyOfBetterSqlite3(): new (path: string) => DriverConnection {
  const entry = process.env.AHENK_BETTER_SQLITE3_ENTRY ?? require.resolve('better-sqlite3');
  const first = require(entry) as unknown;
  const folder = dirname(entry) + sep;
  const mine = (key: string) => key.startsWith(folder);
  const cached = Object.fromEntries(Object.entries(require.cache).filter(([key]) => mine(key)));
  for (const key of Object.keys(cached)) delete require.cache[key];
  try {
    const second = require(entry) as new (path: string) => DriverConnection;
    expect(second).not.toBe(first);
    return second;
  } finally {
    for (const key of Object.keys(require.cache)) if (mine(key)) delete require.cache[key];
    Object.assign(require.cache, cached);
  }
}

describe.skipIf(defaultAdapter() !== 'better-sqlite3')(`a better-sqlite3 Database from another copy of the package (needs the better-sqlite3 adapter, this is ${defaultAdapter()})`, () => {
  it('is recognised and works', () => {
    // The suite's copy loads (and so owns) the native addon first, as the app's Ahenk would.
    const ours = openRaw(':memory:').driver.client;
    const Copy = secondCopyOfBetterSqlite3();
    const handle = new Copy(appFile());
    expect(handle).not.toBeInstanceOf(ours.constructor as new () => unknown);
    const db = initializeDatabase(handle, { schema });
    try {
      expect(db.$client).toBe(handle);
      expect(db.$connection.adapter).toBe('better-sqlite3');
      expectWorks(db, 'b1');
    } finally {
      db.$connection.close();
    }
  });
});
