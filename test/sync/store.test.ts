/**
 * The session's batch apply: a batch (or a group of batches) and the peer's cursor commit
 * together, without waiting for the disk and with a larger page cache, and the connection's own
 * settings are back right after.
 */
import { statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SqliteSyncStore } from '../../src/sync/store/index.ts';
import { formatHlc, packHlc } from '../../src/clock/index.ts';
import { openDevice } from '../helpers/db.ts';

describe('SqliteSyncStore.applyBatch', () => {
  it('commits a batch with its cursor under synchronous = NORMAL with a larger page cache, and restores the connection settings', () => {
    const a = openDevice('a');
    const connection = a.$connection;
    connection.exec('PRAGMA synchronous = FULL');
    // Each driver builds SQLite with its own default (better-sqlite3 16 MB, node:sqlite 2 MB).
    const ownCache = connection.pragma('cache_size');
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
      ['cache_size = -65536', false],
      ['wal_autocheckpoint = 10000', false],
      ['wal_autocheckpoint = 1000', false],
      [`cache_size = ${String(ownCache)}`, false],
      ['synchronous = 2', false],
    ]);
    expect(connection.pragma('cache_size')).toBe(ownCache);
    expect(connection.pragma('synchronous')).toBe(2n);
    expect(store.loadCursor('peer-x')).toBe('42');
    // A refused batch restores the setting too.
    expect(() => store.applyBatch('peer-x', [{ table: 'todos', pk: 'r2', cl: 1, groups: [{ hlc, device: 'peer-x', values: { done: null } }] }], '43')).toThrow();
    expect(connection.pragma('synchronous')).toBe(2n);
    expect(store.loadCursor('peer-x')).toBe('42');
  });

  it('lets the WAL grow past SQLite\'s checkpoint threshold during a group, and gives the connection its threshold back', () => {
    const a = openDevice('a');
    const connection = a.$connection;
    expect(String(connection.pragma('journal_mode'))).toBe('wal');
    expect(connection.pragma('wal_autocheckpoint')).toBe(1000n);
    const store = new SqliteSyncStore(connection);
    const hlc = formatHlc(packHlc(Date.now() - 1000, 0));
    // About 6 MB of rows in one group: 1500 WAL pages of 4 KiB, past the default threshold of 1000.
    const title = 'x'.repeat(3000);
    const batch = (from: number, cursor: string) => ({
      entries: Array.from({ length: 1000 }, (_, i) => ({ table: 'todos', pk: `r${from + i}`, cl: 1, groups: [{ hlc, device: 'peer-x', values: { title } }] })),
      cursor,
    });
    const fileBefore = statSync(a.path).size;
    const group = store.applyBatches('peer-x', [batch(0, '1'), batch(1000, '2')], Number.POSITIVE_INFINITY);
    expect(group.applied).toHaveLength(2);
    expect(connection.prepare('SELECT count(*) FROM todos').value()).toBe(2000n);
    // No checkpoint ran at the group's commit: the rows are in the WAL, not yet in the database file.
    expect(statSync(a.path).size).toBe(fileBefore);
    expect(connection.pragma('wal_autocheckpoint')).toBe(1000n);
    // The connection's own threshold is back: its next commit checkpoints the log into the file.
    connection.exec("UPDATE todos SET done = 1 WHERE id = 'r1'");
    expect(statSync(a.path).size).toBeGreaterThan(fileBefore + 4_000_000);
  });

  it('merges several batches in one transaction with the cursor of the last, and starts no run of batches after the time budget', () => {
    const a = openDevice('a');
    const connection = a.$connection;
    const store = new SqliteSyncStore(connection);
    let commits = 0;
    const { driver } = connection;
    const exec = driver.exec.bind(driver);
    driver.exec = (sql) => (/^\s*COMMIT\b/i.test(sql) && commits++, exec(sql));
    const hlc = formatHlc(packHlc(Date.now() - 1000, 0));
    const batch = (pk: string, cursor: string) => ({ entries: [{ table: 'todos', pk, cl: 1, groups: [{ hlc, device: 'peer-x', values: { title: pk } }] }], cursor });
    // The middle batch is a frame of a window that does not move the cursor.
    const group = store.applyBatches('peer-x', [batch('r1', '10'), batch('r2', ''), batch('r3', '30')], Number.POSITIVE_INFINITY);
    expect(group.applied).toHaveLength(3);
    expect(group.refused).toBeUndefined();
    expect(commits).toBe(1);
    expect(store.loadCursor('peer-x')).toBe('30');
    expect(connection.prepare("SELECT count(*) FROM todos WHERE id IN ('r1', 'r2', 'r3')").value()).toBe(3n);
    // The three merged in one call: the first batch's result carries the log rows it appended.
    const [first, ...rest] = group.applied;
    expect(connection.prepare('SELECT count(*) FROM ahenk_oplog WHERE seq > ? AND seq <= ?').value(first!.before, first!.after)).toBe(3n);
    for (const other of rest) expect(other.after).toBe(other.before);
    // With the budget spent, the first run of batches still goes in, with its cursor. Batches join
    // a run up to 8192 entries: two of 5000 are two runs, so the second is left for the next group.
    const big = (from: number, cursor: string) => ({
      entries: Array.from({ length: 5000 }, (_, i) => ({ table: 'todos', pk: `b${from + i}`, cl: 1, groups: [{ hlc, device: 'peer-x', values: { title: 't' } }] })),
      cursor,
    });
    const budgeted = store.applyBatches('peer-x', [big(0, '40'), big(5000, '50')], 0);
    expect(budgeted.applied).toHaveLength(1);
    expect(store.loadCursor('peer-x')).toBe('40');
    expect(connection.prepare("SELECT count(*) FROM todos WHERE id LIKE 'b%'").value()).toBe(5000n);
    // A batch merge refuses: the ones before it commit with their cursor, it and the rest do not.
    const refusing = store.applyBatches('peer-x', [batch('r6', '60'), batch('k'.repeat(5000), '70'), batch('r8', '80')], Number.POSITIVE_INFINITY);
    expect(refusing.applied).toHaveLength(1);
    expect(refusing.refused).toMatchObject({ code: 'PROTOCOL_ENTRY_REJECTED' });
    expect(store.loadCursor('peer-x')).toBe('60');
    expect(connection.prepare("SELECT count(*) FROM todos WHERE id IN ('r6', 'r8')").value()).toBe(1n);
    // Entries held back are counted against the batch that brought them, though the run merged together.
    const unknown = { table: 'not_here', pk: 'x', cl: 1, groups: [{ hlc, device: 'peer-x', values: { title: 'x' } }] };
    const holding = store.applyBatches('peer-x', [batch('r9', '90'), { entries: [unknown, unknown], cursor: '91' }, batch('r10', '92')], Number.POSITIVE_INFINITY);
    expect(holding.applied.map((b) => [b.quarantined, b.quarantineReasons])).toEqual([
      [0, []],
      [2, ['unknown-table']],
      [0, []],
    ]);
    expect(store.loadCursor('peer-x')).toBe('92');
    // A hole in a batch of a run is refused as merge refuses it alone, not skipped.
    const holey = new Array(2);
    holey[0] = batch('r12', '').entries[0];
    const withHole = store.applyBatches('peer-x', [batch('r11', '100'), { entries: holey, cursor: '101' }], Number.POSITIVE_INFINITY);
    expect(withHole.applied).toHaveLength(1);
    expect(withHole.refused).toMatchObject({ code: 'PROTOCOL_ENTRY_REJECTED' });
    expect(store.loadCursor('peer-x')).toBe('100');
    expect(connection.prepare("SELECT count(*) FROM todos WHERE id IN ('r11', 'r12')").value()).toBe(1n);
  });
});
