/**
 * A receiver whose database cannot be written in the middle of a sync: a full disk (SQLite's page
 * cap, SQLITE_FULL) and read-only media (a query-only connection, SQLITE_READONLY). The sync stops
 * with a StorageError naming the database, the peer is told PROTOCOL_STORAGE, nothing of the failed
 * group is applied (every row has its log entry, the cursor says exactly what is applied), and a
 * later session resumes from the cursor to every row. The node's side (backoff, resuming on its
 * own once space returns, on a real small filesystem) is in node-disk-full.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { StorageError } from '../../src/index.ts';
import { createMemoryChannelPair, runSyncSession, type SyncSessionResult } from '../../src/transport.ts';
import { parseCursor } from '../../src/oplog/cursor.ts';
import { RemoteError } from '../../src/sync/protocol/errors.ts';
import { openDevice } from '../helpers/db.ts';
import { addTodos, idOf, syncPair, type Device } from './helpers.ts';

const ROWS = 6000;

/** One session between a and b, each side's outcome kept (a rejection is a value here). */
async function settledSync(a: Device, b: Device): Promise<{ a: PromiseSettledResult<SyncSessionResult>; b: PromiseSettledResult<SyncSessionResult>; logs: string[] }> {
  const [ca, cb] = createMemoryChannelPair();
  const logs: string[] = [];
  const [ra, rb] = await Promise.allSettled([
    runSyncSession(a, ca, { localDeviceId: idOf(a), expectedRemoteDeviceId: idOf(b) }),
    // A window of 2: b applies one batch per group, so groups commit before the disk fills.
    runSyncSession(b, cb, { localDeviceId: idOf(b), expectedRemoteDeviceId: idOf(a), window: 2, log: (m) => logs.push(m) }),
  ]);
  return { a: ra, b: rb, logs };
}

const count = (db: Device, sql: string, ...params: string[]): number => Number(db.$connection.prepare(sql).value(...params));

/**
 * What b holds of a's rows is whole and agrees with its cursor: every row has its log entry (no
 * app row without its metadata, and no entry without its row), and the cursor into a's log covers
 * exactly the rows b has (a wrote each row once, one log row each).
 */
function expectConsistent(a: Device, b: Device): number {
  const rows = count(b, 'SELECT count(*) FROM todos');
  expect(count(b, 'SELECT count(DISTINCT pk) FROM ahenk_oplog WHERE tbl = (SELECT id FROM ahenk_tables WHERE name = ?)', 'todos')).toBe(rows);
  const cursor = b.$connection.prepare('SELECT received FROM ahenk_cursors WHERE peer_id = ?').value(idOf(a)) as string | undefined;
  const covered = count(a, 'SELECT count(*) FROM ahenk_oplog WHERE seq <= ? AND tbl = (SELECT id FROM ahenk_tables WHERE name = ?)', String(parseCursor(cursor ?? '')), 'todos');
  expect(covered).toBe(rows);
  expect(b.$connection.pragma('integrity_check')).toBe('ok');
  return rows;
}

describe('a sync into a database that cannot be written', () => {
  it('stops at a full disk with DISK_FULL naming the database, tells the peer PROTOCOL_STORAGE, applies no part of a group, and resumes from the cursor once there is space', async () => {
    const a = openDevice('a');
    const b = openDevice('b');
    addTodos(a, 'r', ROWS, { title: 'x'.repeat(200) });
    // Room for a part of the rows only: SQLite's page cap fails a write exactly as a full disk does.
    const pages = Number(b.$connection.pragma('page_count'));
    b.$connection.exec(`PRAGMA max_page_count = ${pages + 300}`);

    const first = await settledSync(a, b);
    expect(first.b.status).toBe('rejected');
    const error = (first.b as PromiseRejectedResult).reason as StorageError;
    expect(error).toBeInstanceOf(StorageError);
    expect(error).toMatchObject({ name: 'StorageError', code: 'DISK_FULL', database: b.path, sqliteCode: 'SQLITE_FULL' });
    expect(error.message).toContain(b.path);
    expect(first.a.status).toBe('rejected');
    const told = (first.a as PromiseRejectedResult).reason as RemoteError;
    expect(told).toBeInstanceOf(RemoteError);
    expect(told.remoteCode).toBe('PROTOCOL_STORAGE');
    // The peer learns the kind of trouble, not where this device keeps its files.
    expect(told.message).not.toContain(b.path);
    expect(first.logs.some((line) => line.includes('PROTOCOL_STORAGE') && line.includes(b.path))).toBe(true);

    const applied = expectConsistent(a, b);
    // Whole batches committed with their cursor before the one that did not fit.
    expect(applied).toBeGreaterThan(0);
    expect(applied % 1000).toBe(0);
    expect(applied).toBeLessThan(ROWS);

    // Space again: the next session takes up where the cursor says, and every row arrives once.
    b.$connection.exec('PRAGMA max_page_count = 1073741823');
    const second = await syncPair(a, b);
    expect(second.b.received).toBeLessThanOrEqual(ROWS - applied + 1000);
    expect(expectConsistent(a, b)).toBe(ROWS);
  });

  it('stops on read-only media with DISK_READ_ONLY, applies nothing, and resumes once it can write', async () => {
    const a = openDevice('a');
    const b = openDevice('b');
    addTodos(a, 'r', 1500);
    await syncPair(a, b);
    addTodos(a, 's', 1500);
    // A query-only connection refuses every write with SQLITE_READONLY, as read-only media does.
    b.$connection.exec('PRAGMA query_only = ON');

    const first = await settledSync(a, b);
    const error = (first.b as PromiseRejectedResult).reason as StorageError;
    expect(error).toBeInstanceOf(StorageError);
    expect(error).toMatchObject({ code: 'DISK_READ_ONLY', database: b.path });
    expect(error.sqliteCode).toMatch(/^SQLITE_READONLY/);
    expect(((first.a as PromiseRejectedResult).reason as RemoteError).remoteCode).toBe('PROTOCOL_STORAGE');
    expect(expectConsistent(a, b)).toBe(1500);

    b.$connection.exec('PRAGMA query_only = OFF');
    await syncPair(a, b);
    expect(expectConsistent(a, b)).toBe(3000);
  });
});
