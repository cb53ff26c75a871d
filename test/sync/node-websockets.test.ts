/**
 * A Node sync node listens on WebSockets too (`/ws`, what a page's browser node dials): a `/ws`
 * address with port 0 gets a second kept port, and a peer that only knows the `/ws` address syncs.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { getDeviceId } from '../../src/database/identity.ts';
import { KEPT_PORT_MAX, KEPT_PORT_MIN } from '../../src/sync/node/constants.ts';
import { createSyncNode, type SyncNode } from '../../src/sync/node/index.ts';
import { readKeptPort } from '../../src/sync/node/listen-port.ts';
import { openDevice } from '../helpers/db.ts';
import { todos } from '../helpers/schema.ts';
import { authorizePeers, waitFor } from '../net/fixtures.ts';

// Node 22 (package.json's engines) has a global WebSocket, which libp2p's WebSockets transport dials
// with; Node 20 (still on some test machines) has it only behind a flag: lend it ws's, which the
// transport's listener already uses.
if (typeof globalThis.WebSocket === 'undefined') {
  (globalThis as { WebSocket?: unknown }).WebSocket = ((await import('ws' as string)) as { WebSocket: unknown }).WebSocket;
}

const TCP_AND_WS = { listenAddresses: ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws'] };

const nodes: SyncNode[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

async function start(db: Parameters<typeof createSyncNode>[0], config: Parameters<typeof createSyncNode>[1]): Promise<SyncNode> {
  const node = await createSyncNode(db, config);
  nodes.push(node);
  return node;
}

function wsAddress(node: SyncNode): string {
  const address = node.getMultiaddrs().find((a) => a.includes('/ws/'));
  if (address === undefined) throw new Error(`no /ws address in ${node.getMultiaddrs().join(', ')}`);
  return address;
}

describe('a sync node on WebSockets', () => {
  it('keeps a second port for its /ws address, apart from the TCP one, and asks for both again at the next start', async () => {
    const a = openDevice('a');
    const first = await start(a, TCP_AND_WS);
    const { kept, keptWebSocket } = first.listenPort;
    expect(kept).toBeDefined();
    expect(keptWebSocket).toBeDefined();
    expect(keptWebSocket).not.toBe(kept);
    for (const port of [kept!, keptWebSocket!]) {
      expect(port).toBeGreaterThanOrEqual(KEPT_PORT_MIN);
      expect(port).toBeLessThanOrEqual(KEPT_PORT_MAX);
    }
    expect(readKeptPort(a.$connection)).toBe(kept);
    expect(readKeptPort(a.$connection, 'ws')).toBe(keptWebSocket);
    expect(first.getMultiaddrs().map((m) => m.replace(/\/p2p\/.*$/, '')).sort()).toEqual([`/ip4/127.0.0.1/tcp/${kept}`, `/ip4/127.0.0.1/tcp/${keptWebSocket}/ws`].sort());
    const firstWs = wsAddress(first);
    await first.stop();
    nodes.length = 0;

    const again = await start(a, TCP_AND_WS);
    expect(again.listenPort).toEqual({ kept, keptWebSocket, unavailable: undefined });
    expect(wsAddress(again)).toBe(firstWs);
  });

  it('syncs with a peer that dials it over WebSockets only', async () => {
    const a = openDevice('a');
    const b = openDevice('b');
    await authorizePeers(a, [getDeviceId(b)]);
    await authorizePeers(b, [getDeviceId(a)]);
    a.insert(todos).values({ id: 'from-a', title: 'written on a' }).run();
    b.insert(todos).values({ id: 'from-b', title: 'written on b' }).run();
    const nodeA = await start(a, TCP_AND_WS);
    const address = wsAddress(nodeA);
    expect(address).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/ws\/p2p\//);
    const nodeB = await start(b, { listenAddresses: ['/ip4/127.0.0.1/tcp/0'], keepPort: false, bootstrapPeers: [address] });
    const ids = (db: typeof a) => db.select({ id: todos.id }).from(todos).all().map((r) => r.id).sort();
    await waitFor(() => ids(a).length === 2 && ids(b).length === 2, 20_000, 'both rows on both devices');
    expect(ids(a)).toEqual(['from-a', 'from-b']);
    expect(ids(b)).toEqual(['from-a', 'from-b']);
    const remote = nodeB.libp2p.getConnections().map((c) => c.remoteAddr.toString());
    expect(remote.length).toBeGreaterThan(0);
    expect(remote.every((r) => r.includes('/ws'))).toBe(true);
  });
});
