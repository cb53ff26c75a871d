/**
 * Real filesystems under a sync. A node whose database lives on a filesystem that fills up mid-sync
 * (a tmpfs of a few MiB mounted by the test, nearly filled with a ballast file): the node reports a
 * StorageError (DISK_FULL, naming the file) as an `error` event and in its log, its peer hears
 * PROTOCOL_STORAGE, nothing of a failed group is applied, the sessions are retried with a growing
 * delay rather than every second, and once the ballast is deleted every row arrives without a
 * restart. A new database on the full filesystem: DISK_FULL and no file left behind. And a
 * database on an ext4 image that the kernel turns read-only after an error, as a failing disk does
 * (errors=remount-ro): DISK_IO_ERROR, nothing half-applied.
 *
 * Needs root (to mount); skipped with the reason otherwise. Mounts are removed in afterAll.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, statfsSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { getDeviceId, initializeDatabase, StorageError } from '../../src/index.ts';
import { createSyncNode, type SyncNode } from '../../src/sync/node/index.ts';
import { RemoteError } from '../../src/sync/protocol/errors.ts';
import { openDevice } from '../helpers/db.ts';
import { authorizePeers, waitFor } from '../net/fixtures.ts';
import { addTodos, idOf } from './helpers.ts';
import { createMemoryChannelPair, runSyncSession } from '../../src/transport.ts';

const ROWS = 8000;
const SMALL_FS = '16m';

/** A small tmpfs of our own, or why there is none. */
function mountSmallFilesystem(): { dir: string } | { skip: string } {
  if (process.getuid?.() !== 0) return { skip: 'not root: cannot mount a small filesystem' };
  const dir = mkdtempSync(join(tmpdir(), 'ahenk-small-fs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${SMALL_FS}`, 'tmpfs', dir], { stdio: 'pipe' });
    return { dir };
  } catch (error) {
    rmdirSync(dir);
    return { skip: `mount -t tmpfs failed: ${(error as Error).message.split('\n')[0]}` };
  }
}

const fs = mountSmallFilesystem();
const skip = 'skip' in fs ? fs.skip : undefined;
if (skip !== undefined) console.warn(`node-disk-full.test.ts skipped: ${skip}`);

/**
 * An 16 MiB ext4 image loop-mounted with errors=remount-ro, and the file that makes the kernel act
 * on a filesystem error (the fs turns read-only at once), or why there is none.
 */
function mountExt4(): { dir: string; image: string; trigger: string } | { skip: string } {
  if (process.getuid?.() !== 0) return { skip: 'not root: cannot mount a filesystem' };
  const dir = mkdtempSync(join(tmpdir(), 'ahenk-ext4-'));
  const image = `${dir}.img`;
  try {
    writeFileSync(image, '');
    execFileSync('truncate', ['-s', '16M', image]);
    execFileSync('mkfs.ext4', ['-q', '-F', image], { stdio: 'pipe' });
    execFileSync('mount', ['-o', 'loop,errors=remount-ro', image, dir], { stdio: 'pipe' });
  } catch (error) {
    rmSync(image, { force: true });
    rmdirSync(dir);
    return { skip: `an ext4 image could not be mounted: ${(error as Error).message.split('\n')[0]}` };
  }
  const device = readFileSync('/proc/mounts', 'utf8').split('\n').find((line) => line.split(' ')[1] === dir)?.split(' ')[0] ?? '';
  const trigger = `/sys/fs/ext4/${device.replace('/dev/', '')}/trigger_fs_error`;
  if (!existsSync(trigger)) {
    execFileSync('umount', [dir]);
    rmSync(image, { force: true });
    rmdirSync(dir);
    return { skip: `the kernel has no ${trigger}` };
  }
  return { dir, image, trigger };
}

const ext4 = mountExt4();
const skipExt4 = 'skip' in ext4 ? ext4.skip : undefined;
if (skipExt4 !== undefined) console.warn(`node-disk-full.test.ts, read-only ext4 skipped: ${skipExt4}`);

const nodes: SyncNode[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});
afterAll(() => {
  if ('dir' in fs) {
    execFileSync('umount', [fs.dir]);
    rmdirSync(fs.dir);
  }
  if ('dir' in ext4) {
    execFileSync('umount', [ext4.dir]);
    rmSync(ext4.image, { force: true });
    rmdirSync(ext4.dir);
  }
});

describe.skipIf(skip !== undefined)(`a sync node on a small filesystem that fills up${skip === undefined ? '' : ` (skipped: ${skip})`}`, () => {
  it('reports DISK_FULL, backs off, applies no part of a group, and finishes by itself once space returns', async () => {
    const dir = (fs as { dir: string }).dir;
    const a = openDevice('a');
    const b = openDevice('b', dir);
    await authorizePeers(a, [getDeviceId(b)]);
    await authorizePeers(b, [getDeviceId(a)]);
    addTodos(a, 'r', ROWS, { title: 'x'.repeat(300) });
    // Leave b about 3 MiB: less than the rows need (with their log, indexes and the WAL).
    const free = (): number => {
      const s = statfsSync(dir);
      return s.bavail * s.bsize;
    };
    const ballast = join(dir, 'ballast');
    writeFileSync(ballast, Buffer.alloc(free() - 3 * 1024 * 1024));

    const logs: string[] = [];
    const config = { listenAddresses: ['/ip4/127.0.0.1/tcp/0'], reconnectInitialDelayMs: 300, reconnectMaxDelayMs: 2400 };
    const logsA: string[] = [];
    const na = await createSyncNode(a, { ...config, log: (line) => logsA.push(line) });
    const nb = await createSyncNode(b, { ...config, log: (line) => logs.push(line) });
    nodes.push(na, nb);
    const errorsA: Error[] = [];
    const errorsB: Error[] = [];
    na.on('error', (e) => errorsA.push(e.error));
    nb.on('error', (e) => errorsB.push(e.error));
    const starts: number[] = [];
    nb.on('sync:start', () => starts.push(performance.now()));

    await nb.dial(na.getMultiaddrs()[0]!);
    await waitFor(() => errorsB.some((e) => e instanceof StorageError), 20_000, "b's DISK_FULL");
    const full = errorsB.find((e) => e instanceof StorageError) as StorageError;
    expect(full).toMatchObject({ code: 'DISK_FULL', database: b.path, sqliteCode: 'SQLITE_FULL' });
    await waitFor(() => errorsA.some((e) => e instanceof RemoteError), 5_000, "a's error event");
    expect(errorsA.filter((e) => e instanceof RemoteError).map((e) => (e as RemoteError).remoteCode)).toContain('PROTOCOL_STORAGE');
    expect(logs.some((line) => line.includes('DISK_FULL') && line.includes(b.path))).toBe(true);

    // While the disk stays full: a few sessions, each after a longer wait (300 ms doubling to 2.4 s, ±20%).
    await new Promise((resolve) => setTimeout(resolve, 7_000));
    const tries = starts.length;
    expect(tries).toBeGreaterThanOrEqual(3);
    expect(tries).toBeLessThanOrEqual(8);
    // The side that opens the sessions (the lower peer id) says why it waits, and how long: longer each time.
    const delays = [...logs, ...logsA].flatMap((line) => /database cannot be written now; trying again in ([\d.]+) s/.exec(line)?.[1] ?? []).map(Number);
    expect(delays.length).toBeGreaterThanOrEqual(3);
    expect(delays[1]!).toBeGreaterThan(delays[0]!);
    expect(delays[2]!).toBeGreaterThan(delays[1]!);

    // Nothing half-applied: every row b holds has its log entry, and the cursor covers exactly those.
    const rows = (): number => Number(b.$connection.prepare('SELECT count(*) FROM todos').value());
    const held = rows();
    expect(held).toBeLessThan(ROWS);
    // Groups that fitted committed with their cursor, which covers exactly the rows b holds.
    expect(held).toBeGreaterThan(0);
    const cursor = b.$connection.prepare('SELECT received FROM ahenk_cursors WHERE peer_id = ?').value(na.peerId) as string;
    expect(Number(a.$connection.prepare('SELECT count(*) FROM ahenk_oplog WHERE seq <= ? AND tbl = (SELECT id FROM ahenk_tables WHERE name = ?)').value(cursor, 'todos'))).toBe(held);
    expect(Number(b.$connection.prepare('SELECT count(DISTINCT pk) FROM ahenk_oplog WHERE tbl = (SELECT id FROM ahenk_tables WHERE name = ?)').value('todos'))).toBe(held);

    // Space returns: the node finishes on its own, without a restart or a dial.
    unlinkSync(ballast);
    await waitFor(() => rows() === ROWS, 20_000, 'every row on b once space returned');
    expect(b.$connection.pragma('integrity_check')).toBe('ok');
    console.log(`disk full: ${tries} sessions in the 7 s the disk stayed full (delays ${delays.join(', ')} s), ${held} of ${ROWS} rows before space returned`);
  }, 60_000);

  it('initializeDatabase of a new file on a full filesystem raises DISK_FULL, leaves no file behind, and succeeds once there is space', () => {
    const dir = (fs as { dir: string }).dir;
    const ballast = join(dir, 'ballast-full');
    const s = statfsSync(dir);
    writeFileSync(ballast, Buffer.alloc(s.bavail * s.bsize));
    const path = join(dir, 'new.db');
    let error: unknown;
    try {
      initializeDatabase(path);
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(StorageError);
    expect(error).toMatchObject({ code: 'DISK_FULL', database: path, operation: 'initializing the database' });
    expect(readdirSync(dir).filter((name) => name.startsWith('new.db'))).toEqual([]);
    unlinkSync(ballast);
    const db = initializeDatabase(path);
    expect(getDeviceId(db)).toMatch(/^12D3KooW/);
    db.$connection.close();
  });
});

describe.skipIf(skipExt4 !== undefined)(`a sync into a database whose filesystem turns read-only after an error${skipExt4 === undefined ? '' : ` (skipped: ${skipExt4})`}`, () => {
  it('stops with DISK_IO_ERROR naming the database, tells the peer PROTOCOL_STORAGE, and applies nothing of the failed group', async () => {
    const { dir, trigger } = ext4 as { dir: string; trigger: string };
    const a = openDevice('a');
    const b = openDevice('b', dir);
    addTodos(a, 'r', 1000);
    const sync = async () => {
      const [ca, cb] = createMemoryChannelPair();
      return Promise.allSettled([
        runSyncSession(a, ca, { localDeviceId: idOf(a), expectedRemoteDeviceId: idOf(b) }),
        runSyncSession(b, cb, { localDeviceId: idOf(b), expectedRemoteDeviceId: idOf(a) }),
      ]);
    };
    const first = await sync();
    expect(first.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    addTodos(a, 's', 3000);
    // What a failing disk does with errors=remount-ro: the kernel turns the filesystem read-only.
    writeFileSync(trigger, 'ahenk test');
    expect(readFileSync('/proc/mounts', 'utf8')).toMatch(new RegExp(`${dir} ext4 [^ ]*emergency_ro`));

    const [ra, rb] = await sync();
    expect(rb.status).toBe('rejected');
    const error = (rb as PromiseRejectedResult).reason as StorageError;
    expect(error).toBeInstanceOf(StorageError);
    expect(error).toMatchObject({ code: 'DISK_IO_ERROR', database: b.path });
    expect(error.sqliteCode).toMatch(/^SQLITE_IOERR/);
    expect(((ra as PromiseRejectedResult).reason as RemoteError).remoteCode).toBe('PROTOCOL_STORAGE');
    // b still reads what it had: the rows of the first sync, each with its log entry, none of the second.
    expect(Number(b.$connection.prepare('SELECT count(*) FROM todos').value())).toBe(1000);
    expect(Number(b.$connection.prepare("SELECT count(*) FROM todos WHERE id LIKE 's-%'").value())).toBe(0);
    expect(Number(b.$connection.prepare('SELECT count(DISTINCT pk) FROM ahenk_oplog WHERE tbl = (SELECT id FROM ahenk_tables WHERE name = ?)').value('todos'))).toBe(1000);
  }, 30_000);
});
