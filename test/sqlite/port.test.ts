/**
 * The storage port on the adapter the suite runs on (AHENK_SQLITE): what the core relies on from
 * any driver. The same file runs on better-sqlite3 and on node:sqlite.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { text } from 'drizzle-orm/sqlite-core';
import { defineSyncedTable, getOplogEntriesSince, initializeDatabase, merge, StorageError } from '../../src/index.ts';
import { defaultAdapter, openConnection, type SqliteConnection } from '../../src/sqlite/index.ts';
import { openRaw, tempDir } from '../helpers/db.ts';

function memory(): SqliteConnection {
  const connection = openRaw(':memory:');
  connection.exec('CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER, r REAL, b BLOB)');
  return connection;
}

describe(`the storage port on ${defaultAdapter()}`, () => {
  it('reads INTEGER as bigint (exact past 2^53), REAL as number, BLOB as bytes, and keeps NULL', () => {
    const c = memory();
    c.prepare('INSERT INTO t VALUES (?, ?, ?, ?)').run('a', 2n ** 62n + 1n, 1.5, new Uint8Array([1, 2]));
    c.prepare('INSERT INTO t VALUES (?, ?, ?, ?)').run('b', null, 2, new Uint8Array(0));
    const a = c.prepare('SELECT n, r, b, typeof(r) AS tr FROM t WHERE id = ?').get('a')!;
    expect(a.n).toBe(2n ** 62n + 1n);
    expect(a.r).toBe(1.5);
    expect([...(a.b as Uint8Array)]).toEqual([1, 2]);
    expect(c.prepare("SELECT n, typeof(r), typeof(b), length(b) FROM t WHERE id = 'b'").values()).toEqual([[null, 'real', 'blob', 0n]]);
    c.prepare('INSERT INTO t (id, n) VALUES (?, ?)').run('c', 7n);
    expect(c.prepare('SELECT n FROM t WHERE id = ?', { integers: 'number' }).value('c')).toBe(7);
  });

  it('reads text back exactly as it was written: a leading U+FEFF kept, empty text empty, in every kind of read', () => {
    const c = memory();
    const texts = ['\uFEFFk', 'k', '\uFEFF', '', 'a\uFEFFb', 'ünï \u{1F600}'];
    texts.forEach((text, i) => c.prepare('INSERT INTO t (id, n) VALUES (?, ?)').run(text, BigInt(i)));
    expect(c.prepare('SELECT id FROM t ORDER BY n').values().map(([id]) => id)).toEqual(texts);
    expect(c.prepare('SELECT id FROM t ORDER BY n').all().map((row) => row.id)).toEqual(texts);
    expect(c.prepare('SELECT id FROM t WHERE n = 0').value()).toBe('\uFEFFk');
    expect(c.prepare('SELECT length(id) AS n FROM t WHERE id = ?').value('\uFEFFk')).toBe(2n);
  });

  it('gives rows as objects, as arrays (duplicate names kept), one by one, and the first value', () => {
    const c = memory();
    const insert = c.prepare('INSERT INTO t (id, n) VALUES (?, ?)');
    for (let i = 0; i < 3; i++) insert.run(`k${i}`, BigInt(i));
    const select = c.prepare('SELECT id, n, n AS n FROM t ORDER BY id');
    expect(select.all().map((row) => ({ ...row }))).toEqual([{ id: 'k0', n: 0n }, { id: 'k1', n: 1n }, { id: 'k2', n: 2n }]);
    expect(select.values()).toEqual([['k0', 0n, 0n], ['k1', 1n, 1n], ['k2', 2n, 2n]]);
    expect([...select.iterateValues()]).toEqual(select.values());
    expect([...select.iterate()].map((row) => row.id)).toEqual(['k0', 'k1', 'k2']);
    expect(select.value()).toBe('k0');
    expect(c.prepare('SELECT id FROM t WHERE id = ?').value('none')).toBeUndefined();
    expect(c.prepare('SELECT id FROM t WHERE id = ?').get('none')).toBeUndefined();
  });

  it('commits a transaction, rolls it back on a throw, and nests as savepoints', () => {
    const c = memory();
    const insert = c.prepare('INSERT INTO t (id) VALUES (?)');
    const count = () => c.prepare('SELECT count(*) FROM t').value();
    expect(c.transaction(() => (insert.run('a'), 'done'))).toBe('done');
    expect(() =>
      c.transaction(() => {
        insert.run('b');
        throw new Error('stop');
      }),
    ).toThrow('stop');
    expect(count()).toBe(1n);
    c.transaction(() => {
      insert.run('c');
      expect(() =>
        c.transaction(() => {
          insert.run('d');
          throw new Error('inner');
        }),
      ).toThrow('inner');
      expect(c.inTransaction).toBe(true);
    });
    expect(c.inTransaction).toBe(false);
    expect(c.prepare('SELECT id FROM t ORDER BY id').values().flat()).toEqual(['a', 'c']);
    expect(() => c.transaction(() => Promise.resolve(1))).toThrow(/synchronous/);
    expect(c.inTransaction).toBe(false);
  });

  it('tells a constraint error from other SQLite errors and from errors that are not SQLite', () => {
    const c = memory();
    c.prepare('INSERT INTO t (id) VALUES (?)').run('a');
    let constraint: unknown;
    try {
      c.prepare('INSERT INTO t (id) VALUES (?)').run('a');
    } catch (error) {
      constraint = error;
    }
    expect(c.isConstraintError(constraint)).toBe(true);
    expect(c.isSqliteError(constraint)).toBe(true);
    let syntax: unknown;
    try {
      c.prepare('SELEC nonsense');
    } catch (error) {
      syntax = error;
    }
    expect(c.isSqliteError(syntax)).toBe(true);
    expect(c.isConstraintError(syntax)).toBe(false);
    expect(c.isSqliteError(new Error('UNIQUE constraint failed: t.id'))).toBe(false);
  });

  it('names a full disk, read-only media and an I/O error as StorageErrors, and nothing else', () => {
    const path = join(tempDir(), 'full.db');
    const c = openRaw(path);
    c.exec('PRAGMA journal_mode = WAL; CREATE TABLE t (id TEXT PRIMARY KEY, b BLOB)');
    // A cap on the file's pages is SQLite's own stand-in for a full disk: the same SQLITE_FULL.
    c.exec(`PRAGMA max_page_count = ${Number(c.pragma('page_count')) + 4}`);
    const caught = (body: () => void): unknown => {
      try {
        body();
      } catch (error) {
        return error;
      }
      throw new Error('expected a throw');
    };
    const full = caught(() => c.prepare('INSERT INTO t VALUES (?, zeroblob(100000))').run('a'));
    expect(c.sqliteCode(full)).toBe('SQLITE_FULL');
    const disk = c.storageError(full, 'saving a test row');
    expect(disk).toBeInstanceOf(StorageError);
    expect(disk).toMatchObject({ name: 'StorageError', code: 'DISK_FULL', database: path, operation: 'saving a test row', sqliteCode: 'SQLITE_FULL', cause: full });
    expect(disk!.message).toContain(path);
    expect(() => c.withStorageErrors('saving a test row', () => c.prepare('INSERT INTO t VALUES (?, zeroblob(100000))').run('b'))).toThrow(expect.objectContaining({ code: 'DISK_FULL' }));
    c.exec('PRAGMA query_only = ON');
    const readOnly = caught(() => c.prepare('INSERT INTO t VALUES (?, NULL)').run('c'));
    expect(c.sqliteCode(readOnly)).toMatch(/^SQLITE_READONLY/);
    expect(c.storageError(readOnly, 'x')?.code).toBe('DISK_READ_ONLY');
    c.exec('PRAGMA query_only = OFF');
    // Neither a constraint, a syntax error nor a plain Error is a storage failure; they pass through unchanged.
    c.prepare('INSERT INTO t VALUES (?, NULL)').run('d');
    const constraint = caught(() => c.prepare('INSERT INTO t VALUES (?, NULL)').run('d'));
    expect(c.sqliteCode(constraint)).toMatch(/^SQLITE_CONSTRAINT/);
    expect(c.storageError(constraint, 'x')).toBeUndefined();
    expect(c.storageError(caught(() => c.prepare('SELEC 1')), 'x')).toBeUndefined();
    expect(c.sqliteCode(new Error('SQLITE_FULL'))).toBeUndefined();
    const plain = new Error('not SQLite');
    expect(caught(() => c.withStorageErrors('x', () => { throw plain; }))).toBe(plain);
    expect(c.prepare('SELECT id FROM t ORDER BY id').values().flat()).toEqual(['d']);
    c.close();
  });

  it('reads and sets pragmas, and knows its file', () => {
    const dir = tempDir();
    const path = join(dir, 'p.db');
    const c = openRaw(path);
    c.exec('PRAGMA journal_mode = WAL');
    expect(c.pragma('journal_mode')).toBe('wal');
    expect(c.path).toBe(path);
    expect(() => c.pragma('journal_mode = DELETE')).toThrow(TypeError);
    c.close();
    expect(c.isOpen).toBe(false);
  });

  it('gives a file Ahenk opens the same page cache and durability whichever driver opens it', () => {
    const path = join(tempDir(), 'same.db');
    const db = initializeDatabase(path);
    try {
      expect(db.$connection.pragma('journal_mode')).toBe('wal');
      expect(db.$connection.pragma('cache_size')).toBe(-16000n);
      expect(db.$connection.pragma('synchronous')).toBe(1n);
      expect(db.$connection.pragma('busy_timeout')).toBe(5000n);
    } finally {
      db.$connection.close();
    }
  });

  it('opens read-only only a file that exists, and refuses to write through it', () => {
    const dir = tempDir();
    expect(() => openConnection(join(dir, 'missing.db'), { readOnly: true })).toThrow();
    const path = join(dir, 'ro.db');
    openRaw(path).exec('CREATE TABLE x (a)');
    const readOnly = openConnection(path, { readOnly: true });
    try {
      expect(readOnly.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").value()).toBe('x');
      expect(() => readOnly.exec('INSERT INTO x VALUES (1)')).toThrow();
    } finally {
      readOnly.close();
    }
  });
});

const nodeSqlite = process.getBuiltinModule?.('node:sqlite') as typeof import('node:sqlite') | undefined;
const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
const hasNodeSqlite = nodeSqlite !== undefined && (major > 22 || (major === 22 && minor >= 16));

describe.skipIf(!hasNodeSqlite)(`README's SQLite drivers example (needs node:sqlite: Node 22.16+, this is ${process.versions.node})`, () => {
  it('opens by adapter name and from a DatabaseSync the app opened, and the two sync', () => {
    const todos = defineSyncedTable('todos', { id: text('id').primaryKey(), title: text('title').notNull().default('') });
    const schema = { todos };
    const dir = tempDir();
    for (const name of ['laptop', 'phone']) {
      const raw = openConnection(join(dir, `${name}.db`), { adapter: 'node:sqlite' });
      raw.exec(`CREATE TABLE todos (id text PRIMARY KEY NOT NULL, title text DEFAULT '' NOT NULL)`);
      raw.close();
    }
    const viaName = initializeDatabase(join(dir, 'laptop.db'), { schema, adapter: 'node:sqlite' });
    const viaConnection = initializeDatabase(new nodeSqlite!.DatabaseSync(join(dir, 'phone.db')), { schema });
    try {
      expect(viaName.$connection.adapter).toBe('node:sqlite');
      expect(viaConnection.$connection.adapter).toBe('node:sqlite');
      viaName.insert(todos).values({ id: crypto.randomUUID(), title: 'Buy milk' }).run();
      merge(viaConnection, getOplogEntriesSince(viaName).entries);
      expect(viaConnection.select().from(todos).all().map((t) => t.title)).toEqual(['Buy milk']);
    } finally {
      viaName.$connection.close();
      viaConnection.$connection.close();
    }
  });
});
