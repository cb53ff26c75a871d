/**
 * Two sync nodes on 127.0.0.1 with the real session: offline edits converge on connect, live
 * writes arrive, a restarted device keeps its PeerId, finds its peer again from ahenk_peers and
 * sends only what changed while it was away; stop() leaves nothing running.
 */
import { isDeepStrictEqual } from 'node:util';
import { eq } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { getDeviceId } from '../../src/database/identity.ts';
import { createSwarm, createSyncNode, type P2PConfig, type SyncCompleteEvent, type SyncNode } from '../../src/sync/node/index.ts';
import { dump } from '../helpers/db.ts';
import { todos } from '../helpers/schema.ts';
import { waitFor } from '../net/fixtures.ts';
import { pairedDevices, type Device } from './helpers.ts';

const LOOPBACK: P2PConfig = { listenAddresses: ['/ip4/127.0.0.1/tcp/0'] };
const nodes: SyncNode[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

async function start(db: Parameters<typeof createSyncNode>[0], config: P2PConfig = {}): Promise<SyncNode> {
  const node = await createSyncNode(db, { ...LOOPBACK, ...config });
  nodes.push(node);
  return node;
}

const same = (a: Device, b: Device): boolean => isDeepStrictEqual(dump(a, 'todos'), dump(b, 'todos'));
const ids = (db: Device): string[] => dump(db, 'todos').map((row) => (row as { id: string }).id);

/** The next catch-up `node` reports with `peerId`. */
const caughtUp = (node: SyncNode, peerId: string): Promise<SyncCompleteEvent> =>
  node.once('sync:complete', { filter: (e) => e.peerId === peerId, signal: AbortSignal.timeout(15_000) });

describe('createSyncNode on 127.0.0.1', () => {
  it('converges after offline edits, pushes live writes, and after a restart sends only what is new', async () => {
    const [a, b] = await pairedDevices();
    const idA = getDeviceId(a);
    const idB = getDeviceId(b);
    a.insert(todos).values({ id: 't1', title: 'milk' }).run();
    a.insert(todos).values({ id: 't2', title: 'eggs' }).run();
    b.insert(todos).values({ id: 't3', title: 'bread' }).run();

    const na = await start(a);
    let nb = await start(b);
    expect(na.peerId).toBe(idA);
    expect(nb.peerId).toBe(idB);
    const firstA = caughtUp(na, idB);
    const firstB = caughtUp(nb, idA);
    const progress: number[] = [];
    nb.on('sync:progress', (p) => p.direction === 'receive' && progress.push(p.entries));
    expect(await nb.dial(na.getMultiaddrs()[0]!)).toBe(idA);
    // Besides the todos, each side's device list (two records: itself and the other) travels too.
    expect(await firstA).toMatchObject({ peerId: idB, sent: 2 + 2, received: 1 + 2 });
    expect(await firstB).toMatchObject({ peerId: idA, sent: 1 + 2, received: 2 + 2 });
    expect(progress.at(-1)).toBe(2 + 2);
    expect(ids(a)).toEqual(['t1', 't2', 't3']);
    expect(same(a, b)).toBe(true);
    // B dialled A, so A learns where B listens only from identify; both are remembered.
    const listenB = nb.getMultiaddrs()[0]!.replace(`/p2p/${idB}`, '');
    await waitFor(() => na.knownPeers().some((p) => p.peerId === idB && p.addresses.includes(listenB)), 5_000, 'A to remember B');
    expect(nb.knownPeers()).toEqual([expect.objectContaining({ peerId: idA, addresses: [na.getMultiaddrs()[0]!.replace(`/p2p/${idA}`, '')] })]);

    // Live: a write on A reaches B without anyone calling anything.
    a.insert(todos).values({ id: 't4', title: 'live' }).run();
    await waitFor(() => ids(b).includes('t4'), 5_000, 'the live write to reach B');

    // B goes away; both sides write while apart.
    const disconnected = na.once('peer:disconnect', { filter: (e) => e.peerId === idB });
    await nb.stop();
    await disconnected;
    a.update(todos).set({ title: 'oat milk' }).where(eq(todos.id, 't1')).run();
    b.insert(todos).values({ id: 't5', title: 'butter' }).run();

    // The same database restarted: same PeerId, and it dials A from ahenk_peers by itself.
    expect(nb.knownPeers()).toEqual([expect.objectContaining({ peerId: idA, lastSync: expect.any(Number) })]);
    const againA = caughtUp(na, idB);
    nb = await start(b);
    expect(nb.peerId).toBe(idB);
    const againB = await caughtUp(nb, idA);
    // Only the changes made while apart travel: A's update of t1 and B's new row t5.
    expect(againB).toMatchObject({ sent: 1, received: 1 });
    expect(await againA).toMatchObject({ sent: 1, received: 1 });
    expect(dump(b, 'todos')).toContainEqual(expect.objectContaining({ id: 't1', title: 'oat milk' }));
    expect(ids(a)).toEqual(['t1', 't2', 't3', 't4', 't5']);
    expect(same(a, b)).toBe(true);
  });

  it('keeps one session when both peers dial each other at the same time', async () => {
    const [a, b] = await pairedDevices();
    a.insert(todos).values({ id: 'x', title: 'from a' }).run();
    b.insert(todos).values({ id: 'y', title: 'from b' }).run();
    const na = await start(a);
    const nb = await start(b);
    const starts: string[] = [];
    na.on('sync:start', (e) => starts.push(`a<-${e.initiator}`));
    nb.on('sync:start', (e) => starts.push(`b<-${e.initiator}`));
    const done = Promise.all([caughtUp(na, nb.peerId), caughtUp(nb, na.peerId)]);
    await Promise.all([na.dial(nb.getMultiaddrs()[0]!), nb.dial(na.getMultiaddrs()[0]!)]);
    await done;
    expect(same(a, b)).toBe(true);
    // One session: the lower PeerId opened it, the other accepted it.
    expect(starts.sort()).toEqual(['a<-' + (na.peerId < nb.peerId ? 'local' : 'remote'), 'b<-' + (nb.peerId < na.peerId ? 'local' : 'remote')].sort());
    expect(na.peers()).toEqual([expect.objectContaining({ peerId: nb.peerId, authorized: true, syncing: true })]);
  });

  it('syncNow with live: false runs one catch-up per call', async () => {
    const [a, b] = await pairedDevices();
    const na = await start(a, { live: false });
    const nb = await start(b, { live: false });
    a.insert(todos).values({ id: 'one', title: '1' }).run();
    const first = caughtUp(nb, na.peerId);
    await nb.dial(na.getMultiaddrs()[0]!);
    // The todo and A's two device records come in; B's two records go out.
    expect(await first).toMatchObject({ received: 1 + 2, sent: 2 });
    await waitFor(() => !nb.peers().some((p) => p.syncing), 5_000, 'the session to end');
    a.insert(todos).values({ id: 'two', title: '2' }).run();
    const results = await nb.syncNow();
    expect(results).toEqual([expect.objectContaining({ peerId: na.peerId, received: 1, sent: 0 })]);
    expect(ids(b)).toEqual(['one', 'two']);
  });

  it('compacts the oplog on its interval, and the peer still converges', async () => {
    const [a, b] = await pairedDevices();
    a.insert(todos).values({ id: 'busy', title: 'v0' }).run();
    for (let i = 1; i <= 20; i++) a.update(todos).set({ title: `v${i}` }).where(eq(todos.id, 'busy')).run();
    const logRows = () => a.$connection.prepare("SELECT count(*) FROM ahenk_oplog WHERE tbl = (SELECT id FROM ahenk_tables WHERE name = 'todos')", { integers: 'number' }).value() as number;
    expect(logRows()).toBe(21);
    const messages: string[] = [];
    await start(a, { compactIntervalMs: 50, log: (m) => messages.push(m) });
    // No peer has a position yet: the fold joins the row's 21 entries into one log row, the last
    // title's stamp with the insert's as a clock group for the other cells (superseded titles go).
    await waitFor(() => logRows() === 1, 5_000, 'compaction');
    expect(messages.some((m) => m.includes('20 log rows fewer'))).toBe(true);
    const nb = await start(b);
    await nb.dial(nodes[0]!.getMultiaddrs()[0]!);
    await waitFor(() => same(a, b), 10_000, 'convergence');
    expect(b.select().from(todos).where(eq(todos.id, 'busy')).get()?.title).toBe('v20');
  });

  it('compacts as soon as the log grew by compactAfterEntries, long before the interval', async () => {
    const [a] = await pairedDevices();
    a.insert(todos).values({ id: 'busy', title: 'v0' }).run();
    for (let i = 1; i <= 20; i++) a.update(todos).set({ title: `v${i}` }).where(eq(todos.id, 'busy')).run();
    const logRows = () => a.$connection.prepare("SELECT count(*) FROM ahenk_oplog WHERE tbl = (SELECT id FROM ahenk_tables WHERE name = 'todos')", { integers: 'number' }).value() as number;
    const messages: string[] = [];
    // The interval is the default ten minutes: only the growth check can run it within the test.
    await start(a, { compactAfterEntries: 15, log: (m) => messages.push(m) });
    // No peer has a position yet: the row's 21 entries join into one log row (see the test above).
    await waitFor(() => logRows() === 1, 5_000, 'compaction on growth');
    expect(messages.some((m) => m.includes('grew by 15 entries since the last compaction'))).toBe(true);
  });

  it('createSwarm is the same function', () => {
    expect(createSwarm).toBe(createSyncNode);
  });

  it('stop() leaves no sockets or timers behind', async () => {
    const count = (): Record<string, number> => {
      const counts: Record<string, number> = {};
      for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1;
      return counts;
    };
    const [a, b] = await pairedDevices();
    a.insert(todos).values({ id: 'r', title: 'row' }).run();
    const before = count();
    const na = await createSyncNode(a, LOOPBACK);
    const nb = await createSyncNode(b, { ...LOOPBACK, bootstrapPeers: [na.getMultiaddrs()[0]!] });
    await caughtUp(nb, na.peerId);
    expect(count()['TCPServerWrap']).toBeGreaterThan(before['TCPServerWrap'] ?? 0);
    await Promise.all([na.stop(), nb.stop()]);
    await na.stop(); // a second stop is a no-op
    // Closed sockets leave the list on the next turns of the event loop. A timer of the test
    // runner may come and go, so nothing may be above its count from before the nodes started.
    const leftover = (): string[] => Object.entries(count()).filter(([type, n]) => n > (before[type] ?? 0)).map(([type]) => type);
    await waitFor(() => leftover().length === 0, 500, 'the nodes\' sockets and timers to close').catch((error: Error) => {
      throw new Error(`${error.message}: still open ${leftover().join(', ')}`);
    });
  });
});
