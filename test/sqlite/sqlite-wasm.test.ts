// The sqlite-wasm adapter against a Node adapter, value by value: the same storage classes in,
// the same values out, the same errors (the browser runs the core on it).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { fromSqlite, loadSqliteWasm, openConnection, type AdapterName, type SqliteConnection, type SqlValue } from '../../src/sqlite/index.ts';

beforeAll(async () => {
  await loadSqliteWasm();
});

/** A Node adapter this Node opens (better-sqlite3 is built for one Node; node:sqlite needs 22.16+). */
function nativeAdapter(): AdapterName {
  for (const adapter of ['better-sqlite3', 'node:sqlite'] as const) {
    try {
      openConnection(':memory:', { adapter }).close();
      return adapter;
    } catch {
      // not on this Node
    }
  }
  throw new Error('neither better-sqlite3 nor node:sqlite opens on this Node');
}

function both(): [SqliteConnection, SqliteConnection] {
  return [openConnection(':memory:', { adapter: 'sqlite-wasm' }), openConnection(':memory:', { adapter: nativeAdapter() })];
}

describe('the sqlite-wasm adapter', () => {
  it('binds and reads every storage class as a Node adapter does', () => {
    const values: SqlValue[] = [null, 0n, -(2n ** 63n), 2n ** 63n - 1n, 1, 1.5, -0.25, '', 'ğüş ✓', new Uint8Array(0), new Uint8Array([0, 255, 7])];
    const seen = both().map((c) => {
      const row = c.prepare(`SELECT ${values.map(() => '?, typeof(?)').join(', ')}`).getValues(...values.flatMap((v) => [v, v]));
      c.close();
      return row!.map(fromSqlite); // better-sqlite3's blobs are Buffers
    });
    expect(seen[0]).toEqual(seen[1]);
    // A JS number binds as REAL (1 -> 1.0), a bigint as INTEGER, an empty array as an empty blob.
    expect(seen[0]!.filter((_, i) => i % 2 === 1)).toEqual(['null', 'integer', 'integer', 'integer', 'real', 'real', 'real', 'text', 'text', 'blob', 'blob']);
  });

  it("reads integers as numbers when asked (Drizzle's app columns), and rows as objects or arrays", () => {
    const [wasm] = both();
    wasm.exec(`CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER); INSERT INTO t VALUES ('a', 1), ('b', 2), ('c', 3)`);
    expect(wasm.prepare('SELECT n FROM t ORDER BY id', { integers: 'number' }).values()).toEqual([[1], [2], [3]]);
    expect(wasm.prepare('SELECT id, n FROM t ORDER BY id').all()).toEqual([{ id: 'a', n: 1n }, { id: 'b', n: 2n }, { id: 'c', n: 3n }]);
    expect(wasm.prepare('SELECT count(*) FROM t').value()).toBe(3n);
    // Leaving an iteration early resets the statement, so it runs again from the start.
    const statement = wasm.prepare('SELECT id FROM t ORDER BY id');
    for (const row of statement.iterateValues()) {
      expect(row).toEqual(['a']);
      break;
    }
    expect(statement.values()).toEqual([['a'], ['b'], ['c']]);
    expect(wasm.prepare(`UPDATE t SET n = n + 1 WHERE id <> 'a'`).run().changes).toBe(2);
    wasm.close();
  });

  it("throws SQLite's own message, knows a constraint error, and keeps the transaction state true", () => {
    const [wasm, native] = both();
    const errors = [wasm, native].map((c) => {
      c.exec('CREATE TABLE u (id TEXT PRIMARY KEY, n INTEGER CHECK (n >= 0))');
      c.prepare('INSERT INTO u VALUES (?, ?)').run('x', 1n);
      const caught: unknown[] = [];
      for (const params of [['x', 2n], ['y', -1n]] as const) {
        try {
          c.prepare('INSERT INTO u VALUES (?, ?)').run(...params);
        } catch (error) {
          caught.push(error);
        }
      }
      return caught;
    });
    expect(errors[0]!.map((e) => (e as Error).message)).toEqual(errors[1]!.map((e) => (e as Error).message));
    expect(errors[0]!.map((e) => wasm.isConstraintError(e))).toEqual([true, true]);
    expect(wasm.isSqliteError(new Error('no'))).toBe(false);
    expect(() => wasm.prepare('SELECT ?').get()).toThrow(/takes 1 parameter/);
    expect(wasm.inTransaction).toBe(false);
    wasm.transaction(() => expect(wasm.inTransaction).toBe(true));
    wasm.close();
    native.close();
  });

  it('opens a path in Node as an image of the file: written back on close, read on the next open', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ahenk-wasm-'));
    try {
      const path = join(dir, 'x.db');
      const first = openConnection(path, { adapter: 'sqlite-wasm' });
      first.exec(`CREATE TABLE t (v); INSERT INTO t VALUES ('kept')`);
      first.close();
      // The file is a real SQLite database: a Node driver reads it.
      const native = openConnection(path, { adapter: nativeAdapter() });
      expect(native.prepare('SELECT v FROM t').value()).toBe('kept');
      native.close();
      const again = openConnection(path, { adapter: 'sqlite-wasm', readOnly: true });
      expect(again.path).toBe(path);
      expect(again.prepare('SELECT v FROM t').value()).toBe('kept');
      again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
