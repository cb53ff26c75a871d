/**
 * relayServers: the node holds a circuit-relay-v2 reservation on each configured relay and is
 * reachable through it. The relay here is a plain libp2p relay server on 127.0.0.1.
 */
import '../../src/sync/node/polyfill.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { getDeviceId } from '../../src/database/identity.ts';
import { createSyncNode, type SyncNode } from '../../src/sync/node/index.ts';
import { openDevice } from '../helpers/db.ts';
import { todos } from '../helpers/schema.ts';
import { waitFor } from '../net/fixtures.ts';
import { startRelayServer } from './relay-server.ts';
import { pairedDevices } from './helpers.ts';

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(stops.splice(0).map((stop) => stop()));
});

describe('relayServers', () => {
  it('reserves a slot on the relay, is reachable through it, and moves to a direct connection when one exists', async () => {
    const relay = await startRelayServer();
    stops.push(async () => {
      await relay.stop();
    });
    const [a, b] = await pairedDevices();
    a.insert(todos).values({ id: 'r1', title: 'via relay' }).run();

    const na: SyncNode = await createSyncNode(a, { listenAddresses: ['/ip4/127.0.0.1/tcp/0'], relayServers: [relay.getMultiaddrs()[0]!.toString()] });
    stops.push(() => na.stop());
    await waitFor(() => na.getMultiaddrs().some((m) => m.includes('/p2p-circuit')), 10_000, 'a relay reservation');
    const circuit = na.getMultiaddrs().find((m) => m.includes('/p2p-circuit'))!;
    expect(circuit).toContain(`/p2p/${relay.peerId.toString()}/p2p-circuit/p2p/${na.peerId}`);

    const nb: SyncNode = await createSyncNode(b, { listenAddresses: ['/ip4/127.0.0.1/tcp/0'], relayServers: [relay.getMultiaddrs()[0]!.toString()] });
    stops.push(() => nb.stop());
    expect(await nb.dial(circuit)).toBe(na.peerId);
    const [relayed] = nb.libp2p.getConnections(na.libp2p.peerId);
    expect(relayed?.limits).toBeDefined();
    // Sync may start over the relayed connection; the nodes also connect directly (identify told
    // them each other's own addresses), the session moves there, and the path says 'direct'.
    await waitFor(() => b.$connection.prepare("SELECT count(*) FROM todos WHERE id = 'r1'").value() === 1n, 20_000, 'the row to arrive');
    await waitFor(() => nb.libp2p.getConnections(na.libp2p.peerId).some((c) => c.limits === undefined && !c.remoteAddr.toString().includes('/p2p-circuit')), 10_000, 'a direct connection');
    expect(nb.peers().find((p) => p.peerId === na.peerId)?.path).toBe('direct');
    a.insert(todos).values({ id: 'r2', title: 'after the upgrade' }).run();
    await waitFor(() => b.$connection.prepare("SELECT count(*) FROM todos WHERE id = 'r2'").value() === 1n, 10_000, 'a write after the upgrade');
  });

  it('starts without the relay when the relay cannot be reached', async () => {
    const db = openDevice();
    const missing = `/ip4/127.0.0.1/tcp/1/p2p/${getDeviceId(openDevice('other'))}`;
    const started = performance.now();
    const node = await createSyncNode(db, { listenAddresses: ['/ip4/127.0.0.1/tcp/0'], relayServers: [missing] });
    stops.push(() => node.stop());
    expect(performance.now() - started).toBeLessThan(8_000);
    expect(node.getMultiaddrs()).toEqual([expect.stringMatching(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//)]);
  });
});
