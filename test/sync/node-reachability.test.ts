/**
 * Stable reachability on 127.0.0.1: a device keeps its listen port across restarts; it remembers
 * every address that worked for a peer, dials the freshest first and leaves one that stopped
 * working alone for a while; what it learns from peers is validated and bounded; when no address
 * works it says which it tried and why each failed; and it notices a network change.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import type { NetworkInterfaceInfo } from 'node:os';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { getDeviceId } from '../../src/database/identity.ts';
import { ADDRESS_BACKOFF_INITIAL_MS, ADDRESS_BACKOFF_MAX_MS, KEPT_PORT_MAX, KEPT_PORT_MIN, MAX_ADDRESSES_PER_PEER } from '../../src/sync/node/constants.ts';
import { createSyncNode, ListenPortInUseError, type PeerUnreachableEvent, type SyncNode } from '../../src/sync/node/index.ts';
import { dialFailureReason } from '../../src/sync/node/dialer.ts';
import { readKeptPort } from '../../src/sync/node/listen-port.ts';
import { NetworkWatcher } from '../../src/sync/node/network-watch.ts';
import { dialPlan, peerAddresses, recordAddressWorked, rememberPeer, validPeerAddresses } from '../../src/sync/node/peer-store.ts';
import { openConnection } from '../../src/sqlite/index.ts';
import { openDevice } from '../helpers/db.ts';
import { todos } from '../helpers/schema.ts';
import { waitFor } from '../net/fixtures.ts';
import { pairedDevices } from './helpers.ts';

const LOOPBACK = { listenAddresses: ['/ip4/127.0.0.1/tcp/0'] };
const PEER = '12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq';
const OTHER = '12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo';

const nodes: SyncNode[] = [];
const servers: Server[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

async function start(db: Parameters<typeof createSyncNode>[0], config: Parameters<typeof createSyncNode>[1]): Promise<SyncNode> {
  const node = await createSyncNode(db, config);
  nodes.push(node);
  return node;
}

function portOf(node: SyncNode): number {
  return Number(/\/tcp\/(\d+)/.exec(node.getMultiaddrs()[0]!)![1]);
}

/** A loopback port nothing listens on (bound for a moment, then released): dials to it are refused. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('the kept listen port', () => {
  it('is chosen once, outside the outgoing-port range, and asked for again at every start', async () => {
    const a = openDevice('a');
    const first = await start(a, LOOPBACK);
    const port = portOf(first);
    expect(port).toBeGreaterThanOrEqual(KEPT_PORT_MIN);
    expect(port).toBeLessThanOrEqual(KEPT_PORT_MAX);
    expect(readKeptPort(a.$connection)).toBe(port);
    expect(first.listenPort).toEqual({ kept: port, unavailable: undefined });
    await first.stop();
    const second = await start(a, LOOPBACK);
    expect(portOf(second)).toBe(port);
    await second.stop();
    // keepPort: false is the old behaviour, a new port each start, and leaves the kept one alone.
    const random = await start(a, { ...LOOPBACK, keepPort: false });
    expect(random.listenPort.kept).toBeUndefined();
    expect(readKeptPort(a.$connection)).toBe(port);
  });

  it('falls back to a random port, and says why, when the kept one is taken; a named port fails instead', async () => {
    const a = openDevice('a');
    const first = await start(a, LOOPBACK);
    const kept = portOf(first);
    await first.stop();
    const squatter = createServer();
    servers.push(squatter);
    await new Promise<void>((resolve) => squatter.listen(kept, '127.0.0.1', resolve));
    const logged: string[] = [];
    const fallback = await start(a, { ...LOOPBACK, log: (line) => logged.push(line) });
    expect(portOf(fallback)).not.toBe(kept);
    expect(fallback.listenPort.kept).toBe(kept);
    expect(fallback.listenPort.unavailable).toMatch(new RegExp(`kept listen port ${kept} is in use`));
    expect(logged).toContain(fallback.listenPort.unavailable);
    expect(readKeptPort(a.$connection)).toBe(kept);
    await fallback.stop();
    await expect(createSyncNode(a, { ...LOOPBACK, port: kept })).rejects.toBeInstanceOf(ListenPortInUseError);
  });

  it('does not give up its kept IPv6 port because an IPv4 program holds the same number', async () => {
    const a = openDevice('a');
    const v6 = { listenAddresses: ['/ip6/::/tcp/0'], networkCheckIntervalMs: 0 };
    const first = await start(a, v6);
    const kept = portOf(first);
    await first.stop();
    // libp2p listens on IPv6 only (ipv6Only): a v4 socket on the same number is no conflict.
    const squatter = createServer();
    servers.push(squatter);
    await new Promise<void>((resolve) => squatter.listen(kept, '127.0.0.1', resolve));
    const second = await start(a, v6);
    expect(second.listenPort).toEqual({ kept, unavailable: undefined });
    expect(portOf(second)).toBe(kept);
  });

  it('starts on random ports, and says why, when the kept port cannot be listened on after all', async () => {
    const a = openDevice('a');
    // Both ask for port 0, so both would get the kept port, and 0.0.0.0 already holds 127.0.0.1's.
    // The same happens when another program takes the port between the check and the listen.
    const overlapping = { listenAddresses: ['/ip4/127.0.0.1/tcp/0', '/ip4/0.0.0.0/tcp/0'], networkCheckIntervalMs: 0 };
    const logged: string[] = [];
    const node = await start(a, { ...overlapping, log: (line) => logged.push(line) });
    const kept = readKeptPort(a.$connection)!;
    expect(node.listenPort.kept).toBe(kept);
    expect(node.listenPort.unavailable).toMatch(new RegExp(`kept listen port ${kept} could not be listened on`));
    expect(logged).toContain(node.listenPort.unavailable);
    expect(node.getMultiaddrs().length).toBeGreaterThan(0);
    expect(node.getMultiaddrs().filter((address) => address.includes(`/tcp/${kept}/`))).toEqual([]);
  });

  it('takes a port from the config and keeps it', async () => {
    const a = openDevice('a');
    const port = await closedPort();
    const node = await start(a, { ...LOOPBACK, port });
    expect(portOf(node)).toBe(port);
    expect(readKeptPort(a.$connection)).toBe(port);
    await expect(createSyncNode(a, { port: 70_000 })).rejects.toThrow(/port must be a whole number from 1 to 65535/);
  });
});

describe('remembered addresses', () => {
  it('dials the freshest address first, and leaves one that stopped working alone while a fresh one works', async () => {
    const [a, b] = await pairedDevices();
    const idB = getDeviceId(b);
    // B's node keeps no memory of A and does not redial: every connection in this test is A's doing.
    const nb = await start(b, { ...LOOPBACK, reconnect: false });
    const live = `/ip4/127.0.0.1/tcp/${portOf(nb)}`;
    const dead = `/ip4/127.0.0.1/tcp/${await closedPort()}`;
    const now = Date.now();
    recordAddressWorked(a.$connection, idB, live, now - 60_000);
    recordAddressWorked(a.$connection, idB, dead, now - 1_000); // B was last seen here: it is tried first
    expect(peerAddresses(a.$connection, idB).map((p) => p.address)).toEqual([dead, live]);

    const connected = nb.once('sync:complete', { signal: AbortSignal.timeout(10_000) });
    let na = await start(a, LOOPBACK);
    await connected;
    const [first, second] = peerAddresses(a.$connection, idB);
    // The dead one was tried (and failed), then the live one worked and is now the freshest.
    expect(first).toMatchObject({ address: live, failures: 0 });
    expect(second).toMatchObject({ address: dead, failures: 1, lastError: expect.stringMatching(/ECONNREFUSED/) });
    const failedAt = second!.lastFailure;

    // Restarted within the backoff: the dead address is not tried again, even where its record would
    // put it first (it worked a moment before it failed).
    await na.stop();
    a.$connection.prepare('UPDATE ahenk_peer_addresses SET last_ok = ? WHERE address = ?').run(Date.now(), dead);
    expect(dialPlan(peerAddresses(a.$connection, idB), Date.now()).backedOff.map((x) => x.address.address)).toEqual([dead]);
    const again = nb.once('sync:complete', { signal: AbortSignal.timeout(10_000) });
    na = await start(a, LOOPBACK);
    await again;
    expect(peerAddresses(a.$connection, idB).find((p) => p.address === dead)).toMatchObject({ failures: 1, lastFailure: failedAt });
    expect(na.peers()[0]?.addresses).toEqual([`${live}/p2p/${idB}`]);
  });

  it('says which addresses it tried and why each failed, and which it left out', async () => {
    const [a, b] = await pairedDevices();
    const idB = getDeviceId(b);
    const [p1, p2, p3] = [await closedPort(), await closedPort(), await closedPort()];
    recordAddressWorked(a.$connection, idB, `/ip4/127.0.0.1/tcp/${p1}`, Date.now() - 1_000);
    rememberPeer(a.$connection, idB, [`/ip4/127.0.0.1/tcp/${p2}`]);
    rememberPeer(a.$connection, idB, [`/ip4/127.0.0.1/tcp/${p3}`]);
    // p3 failed a moment ago: it waits out its backoff.
    a.$connection.prepare('UPDATE ahenk_peer_addresses SET failures = 1, last_failure = ? WHERE address = ?').run(Date.now(), `/ip4/127.0.0.1/tcp/${p3}`);
    const logged: string[] = [];
    const na = await createSyncNode(a, { ...LOOPBACK, reconnectInitialDelayMs: 2_000, log: (line) => logged.push(line) });
    nodes.push(na);
    const unreachable = na.once('peer:unreachable', { signal: AbortSignal.timeout(10_000) });
    // Asked again while the start's dial is under way: one dial, each failure counted once.
    void na.syncNow();
    void na.syncNow();
    const event: PeerUnreachableEvent = await unreachable;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(Object.fromEntries(peerAddresses(a.$connection, idB).map((p) => [p.address, p.failures]))).toEqual({
      [`/ip4/127.0.0.1/tcp/${p1}`]: 1,
      [`/ip4/127.0.0.1/tcp/${p2}`]: 1,
      [`/ip4/127.0.0.1/tcp/${p3}`]: 1,
    });
    expect(event.peerId).toBe(idB);
    expect(event.tried.map((t) => t.address)).toEqual([`/ip4/127.0.0.1/tcp/${p1}`, `/ip4/127.0.0.1/tcp/${p2}`]);
    for (const t of event.tried) expect(t.error).toMatch(/ECONNREFUSED/);
    expect(event.backedOff.map((x) => x.address)).toEqual([`/ip4/127.0.0.1/tcp/${p3}`]);
    expect(event.retryInMs).toBeGreaterThan(0);
    const line = logged.find((l) => l.startsWith(`could not reach ${idB}: tried /ip4/127.0.0.1/tcp/${p1} (`));
    expect(line).toContain(`/ip4/127.0.0.1/tcp/${p2} (`);
    expect(line).toMatch(new RegExp(`left out /ip4/127\\.0\\.0\\.1/tcp/${p3} \\(failed recently`));
  });

  it('learns what an authorized peer announces and remembers the address it reached it at', async () => {
    const [a, b] = await pairedDevices();
    const na = await start(a, LOOPBACK);
    const nb = await start(b, LOOPBACK);
    const synced = nb.once('sync:complete', { signal: AbortSignal.timeout(10_000) });
    await nb.dial(na.getMultiaddrs()[0]!);
    await synced;
    a.insert(todos).values({ id: 'x', title: 'x' }).run();
    const addressOfA = `/ip4/127.0.0.1/tcp/${portOf(na)}`;
    await waitFor(() => peerAddresses(b.$connection, na.peerId).some((p) => p.address === addressOfA && p.lastOk !== null), 5_000, 'B to record A as working');
    // A was dialled, not dialling: it learned B's listen address from identify, never worked yet.
    await waitFor(() => peerAddresses(a.$connection, nb.peerId).some((p) => p.address === `/ip4/127.0.0.1/tcp/${portOf(nb)}`), 5_000, 'A to learn B');
    expect(peerAddresses(a.$connection, nb.peerId).every((p) => p.lastOk === null)).toBe(true);
  });

  it('keeps only valid, bounded addresses from a peer', () => {
    const many = Array.from({ length: 100 }, (_, i) => `/ip4/10.0.${Math.floor(i / 250)}.${(i % 250) + 1}/tcp/4001`);
    expect(validPeerAddresses(PEER, many)).toHaveLength(MAX_ADDRESSES_PER_PEER);
    expect(
      validPeerAddresses(PEER, [
        `/ip4/192.168.1.2/tcp/4001/p2p/${PEER}`, // kept, without its own id
        '/ip4/0.0.0.0/tcp/4001', // a wildcard is nowhere
        '/ip6/::/tcp/4001',
        `/ip4/192.168.1.3/tcp/4001/p2p/${OTHER}`, // someone else's address
        '/ip4/192.168.1.4/udp/4001', // nothing this node can dial
        'not a multiaddr',
        `/dns4/${'a'.repeat(600)}.example/tcp/4001`,
        `/ip4/203.0.113.9/tcp/4001/p2p/${OTHER}/p2p-circuit`, // through a relay: kept
        '/ip4/192.168.1.2/tcp/4001', // a duplicate
      ]),
    ).toEqual(['/ip4/192.168.1.2/tcp/4001', `/ip4/203.0.113.9/tcp/4001/p2p/${OTHER}/p2p-circuit`]);
  });

  it('keeps no address that only looks valid: a bare id, another transport behind the id, port 0, a circuit with no relay', () => {
    const relay = `/ip4/203.0.113.9/tcp/4001/p2p/${OTHER}/p2p-circuit`;
    expect(
      validPeerAddresses(PEER, [
        `/p2p/${PEER}`, // nothing left once its own id is taken off
        `/ip4/192.168.1.4/udp/4001/p2p/${PEER}`, // UDP, however it ends
        `/unix/tmp%2Fsock/p2p/${PEER}`,
        '/ip4/192.168.1.5/tcp/0', // nobody listens on port 0
        '/p2p-circuit', // through which relay?
        `/p2p/${OTHER}/p2p-circuit`, // a relay with no address
        `/ip4/192.168.1.6/tcp/4001/p2p/${OTHER}/ws`, // another peer's id in the middle
        `/ip4/0.0.0.0/tcp/4001/p2p/${OTHER}/p2p-circuit`, // a relay at a wildcard
        `${relay}/p2p/${PEER}`, // kept, without its own id
        `/ip6/2001:db8::1/tcp/4001/p2p/${PEER}`, // kept
        '/dns4/nas.local/tcp/4001/ws', // kept
      ]),
    ).toEqual([relay, '/ip6/2001:db8::1/tcp/4001', '/dns4/nas.local/tcp/4001/ws']);
  });

  it('keeps no host name that could forge or colour a log line, and says no such reason either', () => {
    expect(
      validPeerAddresses(PEER, [
        '/dns4/nas\n2026-01-01T00:00:00.000Z connected someone/tcp/4001', // a second line in the CLI output
        '/dns4/nas\u001b[31m.local/tcp/4001', // a terminal escape
        '/dns4/nas local/tcp/4001',
        `/dns4/${'a'.repeat(64)}.example/tcp/4001`, // a label longer than DNS allows
        '/dns4/nas.local/tcp/4001', // kept
        '/dns/my-nas_1.example./tcp/4001', // kept
      ]),
    ).toEqual(['/dns4/nas.local/tcp/4001', '/dns/my-nas_1.example./tcp/4001']);
    expect(dialFailureReason(new Error('refused \u001b[2J\u0007by\u009b peer'), false)).toBe('refused [2J by peer');
  });

  it(`keeps at most ${MAX_ADDRESSES_PER_PEER} addresses per peer, never dropping those that worked for ones that did not`, () => {
    const a = openDevice('a');
    recordAddressWorked(a.$connection, PEER, '/ip4/10.0.0.1/tcp/1', 1_000);
    for (let i = 0; i < 40; i++) rememberPeer(a.$connection, PEER, [`/ip4/10.1.0.${i + 1}/tcp/1`], 2_000 + i);
    const kept = peerAddresses(a.$connection, PEER);
    expect(kept).toHaveLength(MAX_ADDRESSES_PER_PEER);
    expect(kept[0]!.address).toBe('/ip4/10.0.0.1/tcp/1');
    expect(kept[1]!.address).toBe('/ip4/10.1.0.40/tcp/1'); // then the latest learned
  });

  it('backs an address off for longer after each failure, up to a cap', () => {
    const base = { address: '/ip4/10.0.0.1/tcp/1', learnedAt: 0, lastOk: null, lastError: 'refused' };
    const at = (failures: number, now: number) => dialPlan([{ ...base, failures, lastFailure: 1_000 }], now);
    expect(at(0, 1_000).dial).toHaveLength(1);
    expect(at(1, 1_000 + ADDRESS_BACKOFF_INITIAL_MS - 1).backedOff).toEqual([{ address: expect.objectContaining({ failures: 1 }), retryAt: 1_000 + ADDRESS_BACKOFF_INITIAL_MS }]);
    expect(at(1, 1_000 + ADDRESS_BACKOFF_INITIAL_MS).dial).toHaveLength(1);
    expect(at(3, 1_000 + 4 * ADDRESS_BACKOFF_INITIAL_MS - 1).dial).toHaveLength(0);
    expect(at(3, 1_000 + 4 * ADDRESS_BACKOFF_INITIAL_MS).dial).toHaveLength(1);
    expect(at(50, 1_000 + ADDRESS_BACKOFF_MAX_MS).dial).toHaveLength(1);
  });

  it('carries addresses remembered before the table existed over in the migration', () => {
    const raw = openConnection(':memory:');
    raw.exec("CREATE TABLE ahenk_peers (peer_id text PRIMARY KEY NOT NULL, addresses text DEFAULT '[]' NOT NULL, last_seen integer, last_sync integer)");
    raw.prepare('INSERT INTO ahenk_peers VALUES (?, ?, ?, NULL)').run(PEER, JSON.stringify(['/ip4/10.0.0.2/tcp/1', '/ip4/10.0.0.1/tcp/1', 7]), 5_000);
    raw.prepare('INSERT INTO ahenk_peers VALUES (?, ?, ?, NULL)').run(OTHER, 'not json', 5_000);
    const sql = readFileSync(new URL('../../migrations/0002_peer_addresses.sql', import.meta.url), 'utf8');
    for (const statement of sql.split('--> statement-breakpoint')) raw.exec(statement);
    expect(raw.prepare('SELECT peer_id, address, learned_at FROM ahenk_peer_addresses ORDER BY learned_at DESC').all().map((r) => ({ ...r }))).toEqual([
      { peer_id: PEER, address: '/ip4/10.0.0.2/tcp/1', learned_at: 5_000n },
      { peer_id: PEER, address: '/ip4/10.0.0.1/tcp/1', learned_at: 4_999n },
    ]);
    expect(raw.prepare("SELECT count(*) FROM pragma_table_info('ahenk_peers') WHERE name = 'addresses'").value()).toBe(0n);
    raw.close();
  });

  it('carries over no more than a peer may keep, and no empty or overlong address', () => {
    const raw = openConnection(':memory:');
    raw.exec("CREATE TABLE ahenk_peers (peer_id text PRIMARY KEY NOT NULL, addresses text DEFAULT '[]' NOT NULL, last_seen integer, last_sync integer)");
    const many = Array.from({ length: 40 }, (_, i) => `/ip4/10.0.0.${i + 1}/tcp/1`);
    raw.prepare('INSERT INTO ahenk_peers VALUES (?, ?, ?, NULL)').run(PEER, JSON.stringify(['', `/dns4/${'a'.repeat(600)}/tcp/1`, ...many]), 5_000);
    raw.prepare('INSERT INTO ahenk_peers VALUES (?, ?, ?, NULL)').run(OTHER, JSON.stringify({ a: '/ip4/10.9.9.9/tcp/1' }), 5_000);
    const sql = readFileSync(new URL('../../migrations/0002_peer_addresses.sql', import.meta.url), 'utf8');
    for (const statement of sql.split('--> statement-breakpoint')) raw.exec(statement);
    const kept = raw.prepare('SELECT address FROM ahenk_peer_addresses WHERE peer_id = ? ORDER BY learned_at DESC').all(PEER).map((r) => r.address);
    expect(kept).toEqual(many.slice(0, MAX_ADDRESSES_PER_PEER - 2));
    expect(raw.prepare('SELECT count(*) FROM ahenk_peer_addresses WHERE peer_id = ?').value(OTHER)).toBe(0n);
    raw.close();
  });
});

describe('network changes', () => {
  const lo: NetworkInterfaceInfo = { address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal: true, cidr: '127.0.0.1/8' };
  const wifi = (address: string): NetworkInterfaceInfo => ({ address, netmask: '255.255.255.0', family: 'IPv4', mac: '02:00:00:00:00:01', internal: false, cidr: `${address}/24` });

  it('reports an interface or address appearing or going, and nothing when nothing changed', () => {
    let list: NodeJS.Dict<NetworkInterfaceInfo[]> = { lo: [lo] };
    const watcher = new NetworkWatcher({ intervalMs: 0, onChange: () => {}, interfaces: () => list });
    expect(watcher.check()).toBeUndefined();
    list = { lo: [lo], wlan0: [wifi('192.168.1.20')] };
    expect(watcher.check()).toEqual({ added: ['wlan0 192.168.1.20'], removed: [] });
    expect(watcher.check()).toBeUndefined();
    list = { lo: [lo], wlan0: [wifi('10.0.0.7')] };
    expect(watcher.check()).toEqual({ added: ['wlan0 10.0.0.7'], removed: ['wlan0 192.168.1.20'] });
    list = { lo: [lo] };
    expect(watcher.check()).toEqual({ added: [], removed: ['wlan0 10.0.0.7'] });
  });

  it('looks on its interval until stopped, and a failing look is no change', () => {
    vi.useFakeTimers();
    let list: NodeJS.Dict<NetworkInterfaceInfo[]> = { lo: [lo] };
    let broken = false;
    const changes: unknown[] = [];
    const watcher = new NetworkWatcher({
      intervalMs: 1_000,
      onChange: (change) => changes.push(change),
      interfaces: () => {
        if (broken) throw new Error('EPERM');
        return list;
      },
    });
    watcher.start();
    vi.advanceTimersByTime(3_000);
    expect(changes).toEqual([]);
    broken = true;
    vi.advanceTimersByTime(1_000);
    expect(changes).toEqual([]);
    broken = false;
    list = { lo: [lo], eth0: [wifi('192.168.5.5')] };
    vi.advanceTimersByTime(1_000);
    expect(changes).toEqual([{ added: ['eth0 192.168.5.5'], removed: [] }]);
    watcher.stop();
    list = { lo: [lo] };
    vi.advanceTimersByTime(5_000);
    expect(changes).toHaveLength(1);
  });
});
