/**
 * Paired devices find each other again with no --peer and no --port: pair and join as real
 * processes on 127.0.0.1, then `ahenk start` on both (each only told to stay on loopback) syncs;
 * stopping and starting either side alone reconnects too, each device keeps its port across runs,
 * and while one is away the other's log names the address it tried and why that failed.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EventLog } from '../../src/cli/node.ts';
import { SyncNodeEmitter } from '../../src/sync/node/events.ts';
import type { SyncNode } from '../../src/sync/node/index.ts';
import { openConnection } from '../../src/sqlite/index.ts';
import { appDatabase, cli, LOOPBACK, PASSWORD, spawnCli, tempDir, todoTitles, type CliProcess } from './helpers.ts';

async function deviceId(db: string): Promise<string> {
  return (JSON.parse((await cli(['init', '--db', db, '--json'])).stdout) as { deviceId: string }).deviceId;
}

function write(path: string, id: string): void {
  const raw = openConnection(path);
  raw.prepare('INSERT INTO todos (id, title) VALUES (?, ?)').run(id, `written as ${id}`);
  raw.close();
}

async function listenPort(node: CliProcess): Promise<string> {
  // A CLI process starts in a second or two, but much later on a loaded machine.
  const line = await node.line(/ listening on \/ip4\/127\.0\.0\.1\/tcp\/\d+/, 30_000);
  return /\/tcp\/(\d+)\//.exec(line)![1]!;
}

async function stop(node: CliProcess): Promise<void> {
  node.child.kill('SIGINT');
  expect(await node.exited).toBe(0);
}

describe('ahenk start after pair/join, with no --peer', () => {
  it('reconnects when both restart and when either restarts, on ports each device keeps', { timeout: 180_000 }, async () => {
    const dir = tempDir();
    const laptop = appDatabase(dir, 'laptop', { id: 'before-pairing', title: 'written on the laptop' });
    const phone = appDatabase(dir, 'phone');
    expect((await cli(['init', '--db', laptop, '--user', 'ayse', '--email', 'ayse@example.test'], { env: { AHENK_PASSWORD: PASSWORD } })).code).toBe(0);
    const [laptopId, phoneId] = [await deviceId(laptop), await deviceId(phone)];

    const pair = spawnCli(['pair', '--db', laptop, ...LOOPBACK]);
    const code = await pair.line(/^ahenk-pair:1:/, 30_000);
    const join = spawnCli(['join', code, '--db', phone, '--device-type', 'phone', ...LOOPBACK]);
    expect(await join.exited).toBe(0);
    expect(await pair.exited).toBe(0);

    // Both restarting: each dials the other where it was during pairing, and it is still there.
    write(laptop, 'laptop-1');
    write(phone, 'phone-1');
    let laptopNode = spawnCli(['start', '--db', laptop, ...LOOPBACK]);
    let phoneNode = spawnCli(['start', '--db', phone, ...LOOPBACK]);
    const [laptopPort, phonePort] = [await listenPort(laptopNode), await listenPort(phoneNode)];
    await laptopNode.line(new RegExp(`synced with ${phoneId}`), 30_000);
    await phoneNode.line(new RegExp(`synced with ${laptopId}`), 30_000);
    for (const path of [laptop, phone]) expect(Object.keys(todoTitles(path))).toEqual(['before-pairing', 'laptop-1', 'phone-1']);
    // What each remembers of the other is the port it keeps.
    const phonePeers = JSON.parse((await cli(['peer', 'list', '--db', phone, '--json'])).stdout) as { peerId: string; addresses: string[] }[];
    expect(phonePeers.find((p) => p.peerId === laptopId)?.addresses[0]).toBe(`/ip4/127.0.0.1/tcp/${laptopPort}`);

    // The laptop away: the phone says where it tried to reach it and why that failed.
    await stop(laptopNode);
    const failure = await phoneNode.line(new RegExp(`cannot reach ${laptopId}: tried /ip4/127\\.0\\.0\\.1/tcp/${laptopPort} \\(`), 30_000);
    expect(failure).toMatch(/ECONNREFUSED|refused/);
    write(phone, 'phone-2');
    // The laptop alone restarting: same port, and the phone's running node is found again.
    laptopNode = spawnCli(['start', '--db', laptop, ...LOOPBACK]);
    expect(await listenPort(laptopNode)).toBe(laptopPort);
    await laptopNode.line(new RegExp(`synced with ${phoneId}`), 30_000);
    await waitForRow(laptop, 'phone-2');

    // The phone alone restarting.
    await stop(phoneNode);
    write(laptop, 'laptop-2');
    phoneNode = spawnCli(['start', '--db', phone, ...LOOPBACK]);
    expect(await listenPort(phoneNode)).toBe(phonePort);
    await phoneNode.line(new RegExp(`synced with ${laptopId}`), 30_000);
    await waitForRow(phone, 'laptop-2');
    await stop(phoneNode);
    await stop(laptopNode);
  });

  it('says loudly when the kept port is taken and listens elsewhere; a --port that is taken fails', { timeout: 90_000 }, async () => {
    const { createServer } = await import('node:net');
    const db = appDatabase(tempDir(), 'laptop');
    const first = spawnCli(['start', '--db', db, ...LOOPBACK]);
    const kept = await listenPort(first);
    await stop(first);
    expect(JSON.parse((await cli(['status', '--db', db, '--json'])).stdout)).toMatchObject({ listenPort: Number(kept) });
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(Number(kept), '127.0.0.1', resolve));
    try {
      const second = spawnCli(['start', '--db', db, ...LOOPBACK]);
      const warning = await second.line(/WARNING: /, 30_000);
      expect(warning).toContain(`the kept listen port ${kept} is in use by another program; listening on a random port for this run`);
      expect(await listenPort(second)).not.toBe(kept);
      await stop(second);
      const named = await cli(['start', '--db', db, ...LOOPBACK, '--port', kept]);
      expect(named.code).not.toBe(0);
      expect(named.stderr).toContain(`--port ${kept}: cannot listen on port ${kept}: another program is using it`);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
    // Free again: the kept port is back.
    const third = spawnCli(['start', '--db', db, ...LOOPBACK]);
    expect(await listenPort(third)).toBe(kept);
    await stop(third);
  });
});

describe('ahenk start on WebSockets', () => {
  it('keeps a second port for a /ws listen address, prints it and shows it in status', { timeout: 90_000 }, async () => {
    const db = appDatabase(tempDir(), 'laptop');
    const node = spawnCli(['start', '--db', db, ...LOOPBACK, '--listen', '/ip4/127.0.0.1/tcp/0/ws']);
    const line = await node.line(/ listening on \/ip4\/127\.0\.0\.1\/tcp\/\d+\/ws\//, 30_000);
    const wsPort = Number(/\/tcp\/(\d+)\/ws/.exec(line)![1]);
    await stop(node);
    const status = JSON.parse((await cli(['status', '--db', db, '--json'])).stdout) as { listenPort: number; webSocketPort: number };
    expect(status.webSocketPort).toBe(wsPort);
    expect(status.listenPort).not.toBe(wsPort);
    expect((await cli(['status', '--db', db])).stdout).toContain(`WebSocket port: ${wsPort}`);
  });
});

async function waitForRow(path: string, id: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(id in todoTitles(path))) {
    if (Date.now() > deadline) throw new Error(`${id} did not reach ${path}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('the unreachable line', () => {
  afterEach(() => vi.useRealTimers());

  it('is printed once while a device stays away the same way, again when the reasons change, after it came back, or hourly', () => {
    vi.useFakeTimers();
    let out = '';
    const log = new EventLog({ stdout: { write: (text: string) => (out += text) }, stderr: { write: () => {} }, env: {}, cwd: '/' }, false);
    const node = Object.assign(new SyncNodeEmitter(), { getMultiaddrs: () => [] }) as unknown as SyncNode;
    log.follow(node);
    const refused = { peerId: 'P', tried: [{ address: '/ip4/10.0.0.2/tcp/24001', error: 'connect ECONNREFUSED 10.0.0.2:24001' }], backedOff: [], retryInMs: 2_000 };
    const lines = (): string[] => out.split('\n').filter((l) => l.includes('cannot reach P'));
    node.emit('peer:unreachable', refused);
    node.emit('peer:unreachable', { ...refused, retryInMs: 4_000 });
    expect(lines()).toEqual([expect.stringContaining('cannot reach P: tried /ip4/10.0.0.2/tcp/24001 (connect ECONNREFUSED 10.0.0.2:24001); next try in 2 s')]);
    node.emit('peer:unreachable', { ...refused, tried: [{ address: '/ip4/10.0.0.2/tcp/24001', error: 'no answer within 5 s' }] });
    expect(lines()).toHaveLength(2);
    node.emit('peer:connect', { peerId: 'P', authorized: true, address: '/ip4/10.0.0.2/tcp/24001', path: 'direct' });
    node.emit('peer:unreachable', refused);
    expect(lines()).toHaveLength(3);
    node.emit('peer:unreachable', refused);
    vi.advanceTimersByTime(3_600_000);
    node.emit('peer:unreachable', refused);
    expect(lines()).toHaveLength(4);
  });
});
