/**
 * Sync through relays on 127.0.0.1. The devices announce only their relayed addresses, so no
 * direct path exists: they find each other through the relay from their device lists alone, sync
 * over the circuit, and say so (path 'relayed'). Through a foreign relay with libp2p's default
 * limits (128 KiB and 2 minutes per circuit) a sync larger than one circuit still completes: the
 * relay cuts the circuit, the devices open another and the session resumes from its cursor.
 */
import '../../src/sync/node/polyfill.ts';
import { isDeepStrictEqual } from 'node:util';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { getDeviceId } from '../../src/database/identity.ts';
import { createRelayNode } from '../../src/sync/relay/index.ts';
import { createSyncNode, type PeerPathEvent, type SyncNode } from '../../src/sync/node/index.ts';
import { dump, tempDir } from '../helpers/db.ts';
import { todos } from '../helpers/schema.ts';
import { waitFor } from '../net/fixtures.ts';
import { startRelayServer } from './relay-server.ts';
import { pairedDevices, type Device } from './helpers.ts';

const stops: (() => Promise<void>)[] = [];
/** The nodes' log lines: printed when a test fails, to tell a slow machine from a stuck session. */
const logs: string[] = [];
afterEach(async (context) => {
  if (context.task.result?.state === 'fail') console.error(`node log, last 200 lines:\n${logs.slice(-200).join('\n')}`);
  logs.length = 0;
  await Promise.all(stops.splice(0).map((stop) => stop()));
});

function fill(db: Device, prefix: string, rows: number, pad = 60): void {
  db.$connection.transaction(() => {
    for (let i = 0; i < rows; i++) db.insert(todos).values({ id: `${prefix}-${String(i).padStart(6, '0')}`, title: `${prefix} row ${i} ${'x'.repeat(pad)}` }).run();
  });
}

async function device(db: Device, relayAddress: string, paths: PeerPathEvent[]): Promise<SyncNode> {
  const name = getDeviceId(db).slice(-6);
  const log = (line: string): void => void logs.push(`${new Date().toISOString()} ${name} ${line}`);
  const node = await createSyncNode(db, { listenAddresses: ['/ip4/127.0.0.1/tcp/0'], relayServers: [relayAddress], announce: 'relayed', reconnectInitialDelayMs: 200, log });
  stops.push(() => node.stop());
  node.on('peer:path', (event) => paths.push(event));
  return node;
}

const count = (db: Device): bigint => db.$connection.prepare('SELECT count(*) FROM todos').value() as bigint;
const same = (a: Device, b: Device): boolean => isDeepStrictEqual(dump(a, 'todos'), dump(b, 'todos'));

describe('sync through a relay', () => {
  it('finds the other device through an Ahenk relay and syncs over the circuit', async () => {
    const [a, b] = await pairedDevices();
    fill(a, 'a', 500);
    fill(b, 'b', 300);
    const relay = await createRelayNode({ stateFile: join(tempDir(), 'relay.json'), listenAddresses: ['/ip4/127.0.0.1/tcp/0'], admit: [getDeviceId(a), getDeviceId(b)], statusIntervalMs: 0 });
    stops.push(() => relay.stop());
    const relayAddress = relay.getMultiaddrs()[0]!;
    const paths: PeerPathEvent[] = [];
    const na = await device(a, relayAddress, paths);
    const nb = await device(b, relayAddress, paths);

    await waitFor(() => count(a) === 800n && count(b) === 800n, 30_000, 'both devices to hold every row');
    expect(same(a, b)).toBe(true);
    expect(na.peers().find((p) => p.peerId === nb.peerId)).toMatchObject({ authorized: true, path: 'relayed' });
    expect(nb.peers().find((p) => p.peerId === na.peerId)).toMatchObject({ authorized: true, path: 'relayed' });
    expect(paths.every((p) => p.path === 'relayed')).toBe(true);
    expect(paths.length).toBeGreaterThan(0);
    const stats = relay.stats();
    expect(stats.circuitsTotal).toBeGreaterThan(0);
    expect(stats.bytesRelayed).toBeGreaterThan(800 * 60);

    // Live writes keep flowing over the circuit.
    a.insert(todos).values({ id: 'live', title: 'after catch-up' }).run();
    await waitFor(() => b.$connection.prepare("SELECT count(*) FROM todos WHERE id = 'live'").value() === 1n, 10_000, 'the live write');
  });

  it('loses nothing when the relay goes down mid-sync and comes back', async () => {
    const [a, b] = await pairedDevices();
    fill(a, 'a', 20_000);
    fill(b, 'b', 200);
    const stateFile = join(tempDir(), 'relay.json');
    const admit = [getDeviceId(a), getDeviceId(b)];
    const first = await createRelayNode({ stateFile, listenAddresses: ['/ip4/127.0.0.1/tcp/0'], admit, statusIntervalMs: 0 });
    stops.push(() => first.stop());
    const relayAddress = first.getMultiaddrs()[0]!;
    const port = /\/tcp\/(\d+)\//.exec(relayAddress)![1]!;
    const paths: PeerPathEvent[] = [];
    await device(a, relayAddress, paths);
    await device(b, relayAddress, paths);

    await waitFor(() => count(b) > 1000n, 30_000, 'the sync to be under way');
    expect(count(b)).toBeLessThan(20_200n);
    await first.stop();
    const during = count(b);
    await new Promise((resolve) => setTimeout(resolve, 500));
    // The same state file and port: the same relay address, as after a reboot.
    const second = await createRelayNode({ stateFile, listenAddresses: [`/ip4/127.0.0.1/tcp/${port}`], statusIntervalMs: 0 });
    stops.push(() => second.stop());
    expect(second.getMultiaddrs()[0]).toBe(relayAddress);

    await waitFor(() => count(a) === 20_200n && count(b) === 20_200n, 60_000, 'both devices to hold every row after the relay came back');
    expect(same(a, b)).toBe(true);
    expect(during).toBeLessThan(20_200n);
    expect(second.stats().circuitsTotal).toBeGreaterThan(0);
  }, 90_000);

  it("completes a sync larger than a foreign relay's 128 KiB circuit, resuming across circuits", async () => {
    const [a, b] = await pairedDevices();
    // Rows of about 250 bytes: a default batch of 1000 would not fit in one circuit at all.
    fill(a, 'a', 2000, 200);
    fill(b, 'b', 600, 200);
    const foreign = await startRelayServer();
    stops.push(async () => {
      await foreign.stop();
    });
    const relayAddress = foreign.getMultiaddrs()[0]!.toString();
    const paths: PeerPathEvent[] = [];
    await device(a, relayAddress, paths);
    await device(b, relayAddress, paths);

    await waitFor(() => count(a) === 2600n && count(b) === 2600n, 90_000, 'both devices to hold every row');
    expect(same(a, b)).toBe(true);
    // About 650 KB of rows could not cross one circuit: several were opened one after another.
    expect(paths.filter((p) => p.path === 'relayed').length).toBeGreaterThan(2);
  }, 120_000);
});
