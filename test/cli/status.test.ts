/**
 * `ahenk status` per peer: a running node answers over its owner-only control socket which peers
 * are connected and how; the database says when each was last seen and synced and how many entries
 * wait to be sent. Nodes are real `ahenk start` processes on 127.0.0.1, killed after each test.
 */
import { existsSync, lstatSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/main.ts';
import { getDeviceId, recordRevocationNotice } from '../../src/database/identity.ts';
import { initializeDatabase } from '../../src/index.ts';
import { recordPeerDriftNotice } from '../../src/merge/drift.ts';
import { openConnection } from '../../src/sqlite/index.ts';
import { authorizePeers } from '../net/fixtures.ts';
import { appDatabase, cli, LOOPBACK, spawnCli, tempDir, type CliProcess } from './helpers.ts';

interface StatusJson {
  deviceId: string;
  node: { running: boolean; pid: number | null; addresses: string[] };
  revoked: { by: string; at: number } | null;
  peers: {
    peerId: string;
    authorized: boolean;
    connected: boolean | null;
    path: string | null;
    syncing: boolean | null;
    lastSeen: number | null;
    lastSync: number | null;
    lastSyncSent: number | null;
    lastSyncReceived: number | null;
    waiting: number;
  }[];
}

async function status(db: string): Promise<StatusJson> {
  const result = await cli(['status', '--db', db, '--json']);
  expect(result.stderr).toBe('');
  return JSON.parse(result.stdout) as StatusJson;
}

/** Two app databases on each other's device list; returns their paths and ids. */
async function twoDevices(dir: string): Promise<{ laptop: string; phone: string; laptopId: string; phoneId: string }> {
  const laptop = appDatabase(dir, 'laptop', { id: 't1', title: 'from the laptop' });
  const phone = appDatabase(dir, 'phone');
  const [a, b] = [initializeDatabase(laptop), initializeDatabase(phone)];
  try {
    const laptopId = getDeviceId(a);
    const phoneId = getDeviceId(b);
    await authorizePeers(a, [phoneId]);
    await authorizePeers(b, [laptopId]);
    return { laptop, phone, laptopId, phoneId };
  } finally {
    a.$connection.close();
    b.$connection.close();
  }
}

async function startNode(db: string, extra: string[] = []): Promise<{ node: CliProcess; address: string }> {
  const node = spawnCli(['start', '--db', db, ...LOOPBACK, ...extra]);
  const line = await node.line(/ listening on \/ip4\/127\.0\.0\.1\//, 30_000);
  return { node, address: line.split(' listening on ')[1]! };
}

async function stop(node: CliProcess): Promise<void> {
  node.child.kill('SIGTERM');
  expect(await node.exited).toBe(0);
}

function insertTodos(db: string, ids: string[]): void {
  const raw = openConnection(db);
  try {
    for (const id of ids) raw.prepare('INSERT INTO todos (id, title) VALUES (?, ?)').run(id, `todo ${id}`);
  } finally {
    raw.close();
  }
}

/** One request line on the control socket, and the line that comes back. */
function ask(path: string, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let text = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

describe('ahenk status with peers', () => {
  it('shows a connected peer as direct with the last sync, then the entries waiting while it is away, with or without a node', async () => {
    const dir = tempDir();
    const { laptop, phone, phoneId } = await twoDevices(dir);
    const socket = `${laptop}.ahenk.sock`;
    const laptopNode = await startNode(laptop);
    const phoneNode = await startNode(phone, ['--peer', laptopNode.address]);
    await phoneNode.node.line(/ synced with /, 30_000);
    await laptopNode.node.line(/ synced with /, 30_000);

    // The control socket: a socket, owner-only.
    const stats = lstatSync(socket);
    expect(stats.isSocket()).toBe(true);
    expect(stats.mode & 0o777).toBe(0o600);

    // The laptop saves how far the phone holds its log at most a second after the phone acknowledged it.
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const live = await status(laptop);
    expect(live.node).toMatchObject({ running: true, pid: laptopNode.node.child.pid });
    const peer = live.peers.find((p) => p.peerId === phoneId)!;
    expect(peer).toMatchObject({ authorized: true, connected: true, path: 'direct', waiting: 0, lastSyncReceived: expect.any(Number) });
    expect(peer.lastSyncSent).toBeGreaterThanOrEqual(1);
    expect(peer.lastSync).toBeGreaterThan(Date.now() - 60_000);
    expect((await cli(['status', '--db', laptop])).stdout).toMatch(new RegExp(`${phoneId} +connected \\(direct(, syncing)?\\)`));

    // The phone goes away; the laptop writes on.
    await stop(phoneNode.node);
    insertTodos(laptop, ['w1', 'w2']);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const away = (await status(laptop)).peers.find((p) => p.peerId === phoneId)!;
    expect(away).toMatchObject({ connected: false, path: null, waiting: 2 });

    // Bounded requests: an over-long line is refused; an unknown op too.
    expect(JSON.parse(await ask(socket, 'x'.repeat(5000)))).toEqual({ ok: false, error: 'request over 4096 bytes' });
    expect(JSON.parse(await ask(socket, '{"v":1,"op":"shutdown"}\n'))).toEqual({ ok: false, error: 'unknown op (known: status)' });

    // Stopped, the node removes its socket; status says it is not running and reads the database.
    await stop(laptopNode.node);
    expect(existsSync(socket)).toBe(false);
    const offline = await status(laptop);
    expect(offline.node).toEqual({ running: false, pid: null, addresses: [] });
    const stored = offline.peers.find((p) => p.peerId === phoneId)!;
    expect(stored).toMatchObject({ connected: null, path: null, syncing: null, waiting: 2 });
    // The session's end (the phone said goodbye) is its last sync.
    expect(stored.lastSync).toBeGreaterThanOrEqual(peer.lastSync!);
    const text = await cli(['status', '--db', laptop]);
    expect(text.stdout).toContain('Node:           not running');
    expect(text.stdout).toMatch(new RegExp(`${phoneId} +- +\\S+ +\\S+ +\\d+/\\d+ +2\\n`));
  });

  it('lists device-list peers never seen, with the whole log waiting', async () => {
    const dir = tempDir();
    const { laptop, phoneId } = await twoDevices(dir);
    const offline = await status(laptop);
    const peer = offline.peers.find((p) => p.peerId === phoneId)!;
    expect(peer).toMatchObject({ authorized: true, connected: null, lastSeen: null, lastSync: null });
    expect(peer.waiting).toBeGreaterThanOrEqual(1);
  });

  it('refuses a symlink at the control socket path, in start and in status', async () => {
    const dir = tempDir();
    const db = appDatabase(dir, 'a');
    const target = join(dir, 'target');
    writeFileSync(target, 'keep me');
    symlinkSync(target, `${db}.ahenk.sock`);

    const looked = await cli(['status', '--db', db]);
    expect(looked.code).toBe(EXIT.failure);
    expect(looked.stderr).toContain(`${db}.ahenk.sock is a symbolic link; refusing to use it`);

    const started = await cli(['start', '--db', db, ...LOOPBACK]);
    expect(started.code).toBe(EXIT.failure);
    expect(started.stderr).toContain('is a symbolic link; refusing to use it as the control socket');
    expect(lstatSync(`${db}.ahenk.sock`).isSymbolicLink()).toBe(true);
    expect(readFileSync(target, 'utf8')).toBe('keep me');
  });

  it('replaces a socket left by a node that died, and refuses a second node on a live one', async () => {
    const dir = tempDir();
    const db = appDatabase(dir, 'a');
    const first = spawnCli(['start', '--db', db, ...LOOPBACK]);
    await first.line(/ listening on /, 30_000);
    first.child.kill('SIGKILL');
    await first.exited;
    expect(lstatSync(`${db}.ahenk.sock`).isSocket()).toBe(true);
    expect((await status(db)).node.running).toBe(false);

    const second = await startNode(db);
    expect((await status(db)).node).toMatchObject({ running: true, pid: second.node.child.pid });
    await stop(second.node);
  });
});

describe('ahenk status and reset-identity on a revoked device', () => {
  it('says the device was revoked and what to do; reset-identity gives it a new id and clears that', async () => {
    const dir = tempDir();
    const { phone, laptopId } = await twoDevices(dir);
    const db = initializeDatabase(phone);
    const oldId = getDeviceId(db);
    recordRevocationNotice(db.$connection, { by: laptopId, at: Date.parse('2026-12-04T10:00:00Z') });
    db.$connection.close();

    expect((await status(phone)).revoked).toEqual({ by: laptopId, at: Date.parse('2026-12-04T10:00:00Z') });
    const text = (await cli(['status', '--db', phone])).stdout;
    expect(text).toContain(`Revoked:        yes: ${laptopId} refused this device as revoked`);
    expect(text).toContain('ahenk reset-identity, then pair it again');

    const reset = await cli(['reset-identity', '--db', phone, '--json']);
    expect(reset.stderr).toBe('');
    const result = JSON.parse(reset.stdout) as { previousDeviceId: string; deviceId: string };
    expect(result.previousDeviceId).toBe(oldId);
    const after = await status(phone);
    expect(after.deviceId).toBe(result.deviceId);
    expect(after.revoked).toBeNull();
    // Its data is still there.
    expect((await cli(['status', '--db', phone])).stdout).toMatch(/Oplog entries: +[1-9]/);
  });

  it("shows a peer's drift notice (which peer, how many, how far, when) while it holds, and not once it lapsed", async () => {
    const dir = tempDir();
    const path = appDatabase(dir, 'a');
    const db = initializeDatabase(path);
    const peer = '12D3KooWStatusDriftPeerStatusDriftPeerStatusDri';
    const lapsed = '12D3KooWLapsedDriftPeerLapsedDriftPeerLapsedDr';
    const at = Date.now() - 60_000;
    recordPeerDriftNotice(db, peer, { held: 12, aheadMs: 3 * 3_600_000 }, at);
    recordPeerDriftNotice(db, lapsed, { held: 1, aheadMs: 30_000 }, at);
    db.$connection.close();

    const json = JSON.parse((await cli(['status', '--db', path, '--json'])).stdout) as { clockDrift: { ownAhead: boolean; heldByPeers: unknown[] } };
    expect(json.clockDrift.ownAhead).toBe(false);
    expect(json.clockDrift.heldByPeers).toEqual([{ peerId: peer, held: 12, aheadMs: 3 * 3_600_000, at, until: at + 3 * 3_600_000 }]);
    const text = (await cli(['status', '--db', path])).stdout;
    expect(text).toContain(
      `Clock drift:    ${peer} holds back 12 of this device's writes, stamped up to 180 min ahead of its clock (told ${new Date(at).toISOString()}; until ${new Date(at + 3 * 3_600_000).toISOString()} at the latest)`,
    );
    expect(text).not.toContain(lapsed);
  });

  it('asks before giving a device that was not revoked a new key', async () => {
    const dir = tempDir();
    const db = appDatabase(dir, 'a');
    const refused = await cli(['reset-identity', '--db', db]);
    expect(refused.code).toBe(EXIT.usage);
    expect(refused.stderr).toContain('pass --yes');
    const before = (await status(db)).deviceId;
    expect((await cli(['reset-identity', '--db', db, '--yes'])).code).toBe(0);
    expect((await status(db)).deviceId).not.toBe(before);
  });
});
