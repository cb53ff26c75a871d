/**
 * The store spares the history lookup of rows that cannot have any: in a table whose log was empty
 * when first seen, only the rows its own groups merged since then. Anything else writing the log
 * between two groups ends that, and rows merged again still meet their history.
 */
import { describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { SqliteSyncStore } from '../../src/sync/store/index.ts';
import { merge } from '../../src/index.ts';
import { formatHlc, packHlc } from '../../src/clock/index.ts';
import type { SqlParams } from '../../src/sqlite/index.ts';
import { todos } from '../helpers/schema.ts';
import { openDevice } from '../helpers/db.ts';

type Device = ReturnType<typeof openDevice>;

/** The keys merge looks up in the log's indexes, watched where the connection prepares its SQL. */
function watchLookups(device: Device): string[] {
  const looked: string[] = [];
  const { driver } = device.$connection;
  const prepare = driver.prepare.bind(driver);
  driver.prepare = (sql, options) => {
    const statement = prepare(sql, options);
    if (!sql.includes('json_each')) return statement;
    const iterateValues = statement.iterateValues.bind(statement);
    statement.iterateValues = (...params: SqlParams) => {
      looked.push(...(JSON.parse(String(params[1])) as string[]));
      return iterateValues(...params);
    };
    return statement;
  };
  return looked;
}

const base = Date.now() - 60_000;
const stamp = (ms: number) => formatHlc(packHlc(base + ms, 0));
const batch = (pks: readonly string[], title: string, ms: number, cursor: string) => ({
  entries: pks.map((pk) => ({ table: 'todos', pk, cl: 1, groups: [{ hlc: stamp(ms), device: 'peer-x', values: { title } }] })),
  cursor,
});
const keys = (from: number, count: number) => Array.from({ length: count }, (_, i) => `r${from + i}`);
const titleOf = (device: Device, pk: string) => device.$connection.prepare('SELECT title FROM todos WHERE id = ?').value(pk);

describe('the history lookup of an initial sync', () => {
  it('is skipped for rows new to a table that was empty, and done for rows merged again in a later group', () => {
    const b = openDevice('b');
    const looked = watchLookups(b);
    const store = new SqliteSyncStore(b.$connection);
    // Past 2048 keys, the table of hashes grows (from 4096 slots) and keeps every key.
    store.applyBatches('peer-x', [batch(keys(0, 1500), 'first', 10, '1'), batch(keys(1500, 1500), 'first', 10, '2')], Number.POSITIVE_INFINITY);
    store.applyBatches('peer-x', [batch(keys(3000, 300), 'first', 10, '3')], Number.POSITIVE_INFINITY);
    expect(looked).toEqual([]);
    // r5 again with a newer stamp, r6 and r2999 with an older one, and a new row: only the three are looked up.
    store.applyBatches('peer-x', [{ entries: [...batch(['r5'], 'newer', 20, '').entries, ...batch(['r6', 'r2999', 'r5000'], 'older', 5, '4').entries], cursor: '4' }], Number.POSITIVE_INFINITY);
    expect(looked.sort()).toEqual(['r2999', 'r5', 'r6']);
    expect(titleOf(b, 'r5')).toBe('newer');
    expect(titleOf(b, 'r6')).toBe('first');
    expect(titleOf(b, 'r2999')).toBe('first');
    expect(titleOf(b, 'r5000')).toBe('older');
    expect(b.$connection.prepare('SELECT count(*) FROM todos').value()).toBe(3301n);
  });

  it('merge() looks nothing up in a table the log holds nothing of, and every row once it holds some', () => {
    const b = openDevice('b');
    const looked = watchLookups(b);
    merge(b, batch(keys(0, 20), 'first', 10, '').entries);
    expect(looked).toEqual([]);
    // The log holds the table now: a second delivery meets its history, and an older write loses.
    merge(b, batch(['r3', 'r40'], 'older', 5, '').entries);
    expect(looked.sort()).toEqual(['r3', 'r40']);
    expect(titleOf(b, 'r3')).toBe('first');
    expect(titleOf(b, 'r40')).toBe('older');
  });

  it('looks rows up again once another writer wrote the log between two groups', () => {
    const b = openDevice('b');
    const looked = watchLookups(b);
    const store = new SqliteSyncStore(b.$connection);
    store.applyBatches('peer-x', [batch(keys(0, 10), 'first', 10, '1')], Number.POSITIVE_INFINITY);
    // The app writes a row the peer also wrote, later than the peer did.
    b.insert(todos).values({ id: 'r50', title: 'local' }).run();
    store.applyBatches('peer-x', [batch(['r50', 'r51'], 'remote', 10, '2')], Number.POSITIVE_INFINITY);
    expect(looked.sort()).toEqual(['r50', 'r51']);
    expect(b.select({ title: todos.title }).from(todos).where(eq(todos.id, 'r50')).get()).toEqual({ title: 'local' });
    expect(titleOf(b, 'r51')).toBe('remote');
  });

  it('looks every row up in a table that held rows before', () => {
    const b = openDevice('b');
    b.insert(todos).values({ id: 'mine', title: 'local' }).run();
    const looked = watchLookups(b);
    const store = new SqliteSyncStore(b.$connection);
    store.applyBatches('peer-x', [batch(keys(0, 5), 'remote', 10, '1')], Number.POSITIVE_INFINITY);
    expect(looked.sort()).toEqual(keys(0, 5).sort());
  });

  it('starts again after a group that failed and was rolled back', () => {
    const b = openDevice('b');
    const looked = watchLookups(b);
    const store = new SqliteSyncStore(b.$connection);
    store.applyBatches('peer-x', [batch(keys(0, 5), 'first', 10, '1')], Number.POSITIVE_INFINITY);
    // A cursor merge cannot store: the group fails whole, and the store forgets what it merged.
    const bad = { entries: batch(['r0'], 'second', 20, '').entries, cursor: 'x'.repeat(10) };
    b.$connection.exec('CREATE TRIGGER refuse_cursor BEFORE INSERT ON ahenk_cursors BEGIN SELECT RAISE(ABORT, \'no\'); END');
    expect(() => store.applyBatches('peer-y', [bad], Number.POSITIVE_INFINITY)).toThrow();
    b.$connection.exec('DROP TRIGGER refuse_cursor');
    expect(titleOf(b, 'r0')).toBe('first');
    store.applyBatches('peer-x', [batch(['r1', 'r9'], 'newer', 20, '2')], Number.POSITIVE_INFINITY);
    // The table holds rows now: both are looked up, and r1 meets its history.
    expect(looked.sort()).toEqual(['r0', 'r1', 'r9']);
    expect(titleOf(b, 'r1')).toBe('newer');
  });
});
