/**
 * The session's batch apply: a batch and the peer's cursor commit together, without waiting for
 * the disk, and the connection's own durability setting is back right after.
 */
import { describe, expect, it } from 'vitest';
import { SqliteSyncStore } from '../../src/sync/store/index.ts';
import { formatHlc, packHlc } from '../../src/clock/index.ts';
import { openDevice } from '../helpers/db.ts';

describe('SqliteSyncStore.applyBatch', () => {
  it('commits a batch with its cursor under synchronous = NORMAL and restores the connection setting', () => {
    const a = openDevice('a');
    const connection = a.$connection;
    connection.exec('PRAGMA synchronous = FULL');
    const store = new SqliteSyncStore(connection);
    // Every pragma the store sets, in order, with whether a transaction was open at the time:
    // watched where all SQL of the connection passes, its driver's exec and prepare.
    const set: [string, boolean][] = [];
    const watch = (sql: string): void => {
      const assignment = /^\s*PRAGMA\s+(\w+\s*=.*?)\s*;?\s*$/is.exec(sql);
      if (assignment) set.push([assignment[1]!, connection.inTransaction]);
    };
    const { driver } = connection;
    const exec = driver.exec.bind(driver);
    const prepare = driver.prepare.bind(driver);
    driver.exec = (sql) => (watch(sql), exec(sql));
    driver.prepare = (sql, options) => (watch(sql), prepare(sql, options));
    const hlc = formatHlc(packHlc(Date.now() - 1000, 0));
    const applied = store.applyBatch('peer-x', [{ table: 'todos', pk: 'r1', cl: 1, groups: [{ hlc, device: 'peer-x', values: { title: 'from the peer' } }] }], '42');
    expect(applied.after).toBeGreaterThan(applied.before);
    expect(applied.quarantined).toBe(0);
    expect(connection.prepare("SELECT title FROM todos WHERE id = 'r1'").value()).toBe('from the peer');
    expect(set).toEqual([
      ['synchronous = NORMAL', false],
      ['synchronous = 2', false],
    ]);
    expect(connection.pragma('synchronous')).toBe(2n);
    expect(store.loadCursor('peer-x')).toBe('42');
    // A refused batch restores the setting too.
    expect(() => store.applyBatch('peer-x', [{ table: 'todos', pk: 'r2', cl: 1, groups: [{ hlc, device: 'peer-x', values: { done: null } }] }], '43')).toThrow();
    expect(connection.pragma('synchronous')).toBe(2n);
    expect(store.loadCursor('peer-x')).toBe('42');
  });
});
