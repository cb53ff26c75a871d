/**
 * Each of Ahenk's own writes raises a StorageError naming the database and what it was doing when
 * SQLite cannot write the file (a query-only connection stands in for read-only media: the same
 * SQLITE_READONLY), and changes nothing. The sync apply, migrations and a real full or read-only
 * filesystem have their own files (test/sync/disk-full.test.ts, test/sync/node-disk-full.test.ts,
 * test/migration-disk-full.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { authorizeDevice, compactOplog, getDeviceId, getOplogEntriesSince, getUserDevices, merge, registerUser, retryQuarantined, revokeDevice, StorageError } from '../src/index.ts';
import { rememberPeer } from '../src/sync/node/peer-store.ts';
import { SqliteSyncStore } from '../src/sync/store/sqlite-store.ts';
import { openDevice } from './helpers/db.ts';
import { todos } from './helpers/schema.ts';
import { addTodos } from './sync/helpers.ts';

function readOnlyFailure(db: ReturnType<typeof openDevice>, body: () => unknown): StorageError {
  const raw = db.$connection;
  const before = raw.prepare('SELECT (SELECT count(*) FROM ahenk_oplog), (SELECT count(*) FROM todos), (SELECT count(*) FROM ahenk_devices), (SELECT count(*) FROM ahenk_peers)').values();
  raw.exec('PRAGMA query_only = ON');
  try {
    body();
  } catch (error) {
    expect(error).toBeInstanceOf(StorageError);
    expect(error).toMatchObject({ code: 'DISK_READ_ONLY', database: db.path });
    expect(raw.inTransaction).toBe(false);
    return error as StorageError;
  } finally {
    raw.exec('PRAGMA query_only = OFF');
    expect(raw.prepare('SELECT (SELECT count(*) FROM ahenk_oplog), (SELECT count(*) FROM todos), (SELECT count(*) FROM ahenk_devices), (SELECT count(*) FROM ahenk_peers)').values()).toEqual(before);
  }
  throw new Error('expected a StorageError');
}

describe("Ahenk's own writes on read-only media", () => {
  it('merge, compaction, held-back retries, the device list, the peer store and the peer position each raise a StorageError naming what they did', async () => {
    const a = openDevice('a');
    const b = openDevice('b');
    addTodos(a, 'r', 50);
    const entries = getOplogEntriesSince(a).entries;
    expect(readOnlyFailure(b, () => merge(b, entries)).operation).toBe('merging entries');
    merge(b, entries);
    // Superseded entries for compaction to drop.
    b.update(todos).set({ title: 'again' }).run();
    expect(readOnlyFailure(b, () => compactOplog(b, { full: true })).operation).toBe('compacting the log');
    expect(readOnlyFailure(b, () => retryQuarantined(b)).operation).toBe('retrying held-back entries');

    const user = await registerUser(b, 'owner', 'owner@example.test', 'correct horse battery');
    expect(readOnlyFailure(b, () => authorizeDevice(b, { userId: user.id, peerId: getDeviceId(a), deviceType: 'peer' })).operation).toBe('authorizing a device');
    const device = authorizeDevice(b, { userId: user.id, peerId: getDeviceId(a), deviceType: 'peer' });
    expect(readOnlyFailure(b, () => revokeDevice(b, device.id)).operation).toBe('revoking a device');
    expect(getUserDevices(b, user.id).every((d) => d.revokedAt === null)).toBe(true);

    expect(readOnlyFailure(b, () => rememberPeer(b.$connection, getDeviceId(a), ['/ip4/127.0.0.1/tcp/1'])).operation).toBe('remembering a peer');
    const store = new SqliteSyncStore(b.$connection);
    expect(readOnlyFailure(b, () => store.savePeerPosition(getDeviceId(a), 5n)).operation).toMatch(/^saving the position of peer /);
  });
});
