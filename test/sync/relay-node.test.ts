/**
 * createRelayNode on 127.0.0.1: a stable key in a 0600 state file, TCP and WebSockets listeners,
 * and access control: only admitted devices reserve a slot or open a circuit; a stranger is
 * refused and counted. Devices are real sync nodes.
 */
import '../../src/sync/node/polyfill.ts';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { getDeviceId } from '../../src/database/identity.ts';
import { createRelayNode, type RelayConfig, type RelayNode } from '../../src/sync/relay/index.ts';
import { createSyncNode, type SyncNode } from '../../src/sync/node/index.ts';
import { openDevice, tempDir } from '../helpers/db.ts';
import { authorizePeers, waitFor } from '../net/fixtures.ts';

const LOOPBACK_RELAY = ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws'];
const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(stops.splice(0).map((stop) => stop()));
});

async function relay(config: Partial<RelayConfig> & { stateFile: string }): Promise<RelayNode> {
  const node = await createRelayNode({ listenAddresses: LOOPBACK_RELAY, statusIntervalMs: 0, ...config });
  stops.push(() => node.stop());
  return node;
}

async function device(db: Parameters<typeof createSyncNode>[0], relayAddress: string): Promise<SyncNode> {
  const node = await createSyncNode(db, { listenAddresses: ['/ip4/127.0.0.1/tcp/0'], relayServers: [relayAddress], announce: 'relayed' });
  stops.push(() => node.stop());
  return node;
}

const tcpAddress = (node: RelayNode): string => node.getMultiaddrs().find((a) => a.includes('/tcp/') && !a.includes('/ws'))!;

describe('createRelayNode', () => {
  it('keeps its key in a 0600 state file: the same PeerId after a restart, admitted devices remembered', async () => {
    const stateFile = join(tempDir(), 'relay.json');
    const admitted = getDeviceId(openDevice('x'));
    const first = await relay({ stateFile, admit: [admitted] });
    const peerId = first.peerId;
    expect(statSync(stateFile).mode & 0o777).toBe(0o600);
    expect(first.getMultiaddrs().some((a) => a.includes('/ws/p2p/'))).toBe(true);
    expect(first.getMultiaddrs().some((a) => /\/tcp\/\d+\/p2p\//.test(a))).toBe(true);
    await first.stop();

    const second = await relay({ stateFile });
    expect(second.peerId).toBe(peerId);
    expect(second.libp2p.peerId.toString()).toBe(peerId);
    expect(second.admitted().map((p) => p.peerId)).toEqual([admitted]);
    // Only the key, the join token and device ids are stored: no user data.
    expect(Object.keys(JSON.parse(readFileSync(stateFile, 'utf8')) as object).sort()).toEqual(['admitted', 'joinToken', 'privateKey', 'revoked', 'version']);
  });

  it('refuses a state file that is not its own, and bad limits', async () => {
    const dir = tempDir();
    await expect(createRelayNode({ stateFile: join(dir, 'r.json'), listenAddresses: LOOPBACK_RELAY, admit: ['not-a-peer'] })).rejects.toMatchObject({ name: 'NodeConfigError' });
    await expect(createRelayNode({ stateFile: join(dir, 'r.json'), listenAddresses: LOOPBACK_RELAY, limits: { circuitBytes: -1 } })).rejects.toMatchObject({ name: 'NodeConfigError' });
  });

  it('serves admitted devices only: a stranger can neither reserve a slot nor open a circuit', async () => {
    const a = openDevice('a');
    const stranger = openDevice('stranger');
    await authorizePeers(a, []);
    // The stranger even lists A as its own device: the relay's admission is separate from that.
    await authorizePeers(stranger, [getDeviceId(a)]);
    const server = await relay({ stateFile: join(tempDir(), 'relay.json'), admit: [getDeviceId(a)] });
    const address = tcpAddress(server);

    const na = await device(a, address);
    await waitFor(() => na.getMultiaddrs().some((m) => m.includes('/p2p-circuit')), 10_000, 'a reservation for the admitted device');
    expect(server.stats()).toMatchObject({ reservations: 1, admitted: 1 });
    const circuit = na.getMultiaddrs().find((m) => m.includes('/p2p-circuit'))!;

    const ns = await device(stranger, address);
    await waitFor(() => server.stats().refused.reservations > 0, 10_000, 'the relay to refuse the stranger a reservation');
    expect(ns.getMultiaddrs().some((m) => m.includes('/p2p-circuit'))).toBe(false);
    await expect(ns.dial(circuit)).rejects.toThrow();
    expect(server.stats()).toMatchObject({ reservations: 1, circuitsTotal: 0 });
    expect(na.peers().map((p) => p.peerId)).not.toContain(ns.peerId);

    // Once admitted, the same device reserves a slot.
    server.admit(ns.peerId);
    await ns.stop();
    const again = await device(stranger, address);
    await waitFor(() => again.getMultiaddrs().some((m) => m.includes('/p2p-circuit')), 10_000, 'a reservation once admitted');
    expect(server.stats().reservations).toBe(2);

    // Revoked: its connections close and it is refused again.
    await server.revoke(again.peerId);
    expect(server.isAdmitted(again.peerId)).toBe(false);
    await waitFor(() => server.stats().reservations === 1, 5_000, 'the reservation to go');
    expect(server.libp2p.getConnections().some((c) => c.remotePeer.toString() === again.peerId)).toBe(false);
  });
});
