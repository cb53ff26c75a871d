/**
 * Relays and NATs for real: a relay on a "public" bridge, two devices each behind its own NAT
 * namespace (nftables masquerade: nat1 endpoint-independent, nat2 symmetric), built by
 * test/net/nat.ts. Shows that relayed sync converges; that no hole is punched between these NATs
 * (js-libp2p on Node cannot punch TCP holes), which is reported while sync stays on the relay;
 * that the relay going down mid-sync and coming back loses nothing; and that a device carried to
 * the other private segment reconnects by itself. Skipped with a printed reason without root,
 * namespaces or nft; every namespace is deleted and every process ended in every case.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getDeviceId } from '../../src/database/identity.ts';
import { openConnection } from '../../src/sqlite/index.ts';
import { dump, openDevice } from '../helpers/db.ts';
import { todos } from '../helpers/schema.ts';
import { authorizePeers, waitFor } from './fixtures.ts';
import { createNatTopology, natUnavailableReason, type NatNode, type NatTopology } from './nat.ts';
import { announceSkip, collectScript, hasEvent as has, killScripts, reportChildren, ROOT, scriptArgs, stopScript as stopChild, type ScriptChild as Child } from './script-child.ts';

const DEVICE_SCRIPT = fileURLToPath(new URL('./nat-device-script.ts', import.meta.url));
const RELAY_SCRIPT = fileURLToPath(new URL('./relay-script.ts', import.meta.url));
const skipReason = announceSkip('test/net/nat.test.ts', natUnavailableReason());

let topology: NatTopology | undefined;
const children: Child[] = [];
let dir = '';

function start(node: NatNode, script: string, options: Record<string, unknown>): Child {
  const entry = collectScript(topology!.spawn(node, process.execPath, scriptArgs(script, options), ROOT));
  children.push(entry);
  return entry;
}
const logs = (child: Child): string[] => child.events.filter((e) => e.event === 'log').map((e) => String(e['message']));

/** Rows of `todos` in a database file another process is writing (a fresh read connection each time). */
function rowCount(path: string): number {
  const raw = openConnection(path, { readOnly: true });
  try {
    return Number(raw.prepare('SELECT count(*) FROM todos').value());
  } finally {
    raw.close();
  }
}

/** Writes rows from another connection, as any app would: the capture triggers log them. */
function insertRows(path: string, prefix: string, rows: number): void {
  const raw = openConnection(path);
  try {
    const insert = raw.prepare('INSERT INTO todos (id, title) VALUES (?, ?)');
    raw.transaction(() => {
      for (let i = 0; i < rows; i++) insert.run(`${prefix}-${String(i).padStart(6, '0')}`, `${prefix} row ${i} ${'y'.repeat(40)}`);
    });
  } finally {
    raw.close();
  }
}

afterAll(() => {
  killScripts(children);
  topology?.remove();
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(skipReason !== undefined)('relays and NATs in network namespaces', () => {
  let paths: { dev1: string; dev2: string; state: string };
  let ids: { dev1: string; dev2: string };
  let relay: Child;
  let relayAddress = '';
  let dev1: Child;
  let dev2: Child;
  const report = (): string => reportChildren(children, 40);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ahenk-nat-'));
    const a = openDevice('dev1', dir);
    const b = openDevice('dev2', dir);
    ids = { dev1: getDeviceId(a), dev2: getDeviceId(b) };
    await authorizePeers(a, [ids.dev2]);
    await authorizePeers(b, [ids.dev1]);
    a.$connection.transaction(() => {
      for (let i = 0; i < 2000; i++) a.insert(todos).values({ id: `a-${String(i).padStart(6, '0')}`, title: `behind the EIM NAT ${i}` }).run();
    });
    b.$connection.transaction(() => {
      for (let i = 0; i < 300; i++) b.insert(todos).values({ id: `b-${String(i).padStart(6, '0')}`, title: `behind the symmetric NAT ${i}` }).run();
    });
    a.$connection.close();
    b.$connection.close();
    paths = { dev1: a.path, dev2: b.path, state: join(dir, 'relay.json') };
    topology = createNatTopology();
    relay = start('pub', RELAY_SCRIPT, { stateFile: paths.state, listen: [`/ip4/${topology.relayIp}/tcp/4001`], admit: [ids.dev1, ids.dev2] });
    await waitFor(() => has(relay, 'started'), 20_000, `the relay to start\n${report()}`);
    relayAddress = (relay.events.find((e) => e.event === 'started')!['addresses'] as string[])[0]!;
    dev1 = start('dev1', DEVICE_SCRIPT, { dbPath: paths.dev1, relay: relayAddress });
    dev2 = start('dev2', DEVICE_SCRIPT, { dbPath: paths.dev2, relay: relayAddress });
  }, 60_000);

  it('syncs through the relay; no hole is punched between these NATs, which is reported, and sync stays relayed', { timeout: 150_000 }, async () => {
    await waitFor(() => rowCount(paths.dev1) === 2300 && rowCount(paths.dev2) === 2300, 60_000, `both devices to converge\n${report()}`);
    // Neither device was given the other's address: each found the other through the relay.
    for (const [child, other] of [[dev1, ids.dev2], [dev2, ids.dev1]] as const) {
      const pathEvents = child.events.filter((e) => e.event === 'peer:path' && e['peerId'] === other);
      expect(pathEvents.length, report()).toBeGreaterThan(0);
      expect(pathEvents.every((e) => e['path'] === 'relayed'), report()).toBe(true);
    }
    // The attempt to go direct was made and its failure reported; sync stayed on the relay.
    const tried = [...logs(dev1), ...logs(dev2)].filter((m) => /direct dial to .* failed .* sync stays on the relay/.test(m));
    expect(tried.length, report()).toBeGreaterThan(0);
    // Once DCUtR's attempts have run out with no hole punched, that is said too (event and log).
    const gaveUp = (): boolean => [dev1, dev2].some((c) => c.events.some((e) => e.event === 'peer:direct-failed'));
    await waitFor(gaveUp, 60_000, `a device to report that no hole was punched\n${report()}`);
    const failed = [dev1, dev2].flatMap((c) => c.events.filter((e) => e.event === 'peer:direct-failed'));
    for (const event of failed) expect([ids.dev1, ids.dev2], report()).toContain(event['peerId']);
    expect([...logs(dev1), ...logs(dev2)].some((m) => /no direct path to .*DCUtR punched no hole .* sync stays on the relay/.test(m)), report()).toBe(true);
    expect([dev1, dev2].flatMap((c) => c.events.filter((e) => e.event === 'peer:path' && e['path'] === 'hole-punched')), report()).toEqual([]);
    dev1.process.stdin.write('peers\n');
    await waitFor(() => has(dev1, 'peers'), 5_000, 'the peer list');
    const listed = dev1.events.find((e) => e.event === 'peers')!['peers'] as { peerId: string; path: string }[];
    expect(listed.find((p) => p.peerId === ids.dev2)?.path).toBe('relayed');
  });

  it('loses nothing when the relay goes down mid-sync and comes back', { timeout: 120_000 }, async () => {
    const before = rowCount(paths.dev2);
    insertRows(paths.dev1, 'bulk', 30_000);
    const total = before + 30_000;
    await waitFor(() => rowCount(paths.dev2) > before + 1000, 60_000, `the bulk sync to be under way\n${report()}`);
    relay.process.kill('SIGKILL');
    await relay.exited;
    const during = rowCount(paths.dev2);
    expect(during, 'the relay went down before the sync finished').toBeLessThan(total);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    relay = start('pub', RELAY_SCRIPT, { stateFile: paths.state, listen: [`/ip4/${topology!.relayIp}/tcp/4001`], admit: [] });
    await waitFor(() => has(relay, 'started'), 20_000, `the relay to start again\n${report()}`);
    expect((relay.events.find((e) => e.event === 'started')!['addresses'] as string[])[0]).toBe(relayAddress);
    await waitFor(() => rowCount(paths.dev1) === total && rowCount(paths.dev2) === total, 90_000, `both devices to hold every row\n${report()}`);
    expect(isDeepStrictEqual(dump({ $connection: openConnection(paths.dev1, { readOnly: true }) }, 'todos'), dump({ $connection: openConnection(paths.dev2, { readOnly: true }) }, 'todos'))).toBe(true);
  });

  it('a device carried to the other private segment reconnects by itself', { timeout: 90_000 }, async () => {
    const before = rowCount(paths.dev2);
    topology!.moveDev1BehindNat2();
    expect(topology!.addresses('dev1')).toEqual(['10.2.1.2']);
    insertRows(paths.dev1, 'moved', 1);
    await waitFor(() => rowCount(paths.dev2) === before + 1, 60_000, `the row written after the move to arrive\n${report()}`);
  });

  it('every process ends by itself after stop', { timeout: 30_000 }, async () => {
    // A process ends only once nothing holds its event loop: a dial still failing towards an
    // unroutable address may take a moment to close, but nothing is held for good.
    const codes = await Promise.all([dev1, dev2, relay].map((c) => stopChild(c)));
    expect(codes, report()).toEqual([0, 0, 0]);
    for (const child of [dev1, dev2, relay]) expect(has(child, 'stopped'), report()).toBe(true);
  });
});
