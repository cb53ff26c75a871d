/**
 * Three real sync nodes on 127.0.0.1: in a line (A-B-C, A and C never connected) a write on A
 * reaches C through B; in a loop (A-B-C-A) everything converges and the traffic then stops.
 */
import { isDeepStrictEqual } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { getDeviceId } from '../../src/database/identity.ts';
import { createSyncNode, type SyncNode } from '../../src/sync/node/index.ts';
import { dump, openDevice } from '../helpers/db.ts';
import { todos } from '../helpers/schema.ts';
import { authorizePeers, waitFor } from '../net/fixtures.ts';

type Device = ReturnType<typeof openDevice>;
const nodes: SyncNode[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

/** Three devices of one user, each trusting the other two; no discovery, only the dials we make. */
async function threeDevices(): Promise<{ dbs: Device[]; nodes: SyncNode[] }> {
  const dbs = ['a', 'b', 'c'].map((name) => openDevice(name));
  const ids = dbs.map((db) => getDeviceId(db));
  for (const [i, db] of dbs.entries()) await authorizePeers(db, ids.filter((_, j) => j !== i));
  const started: SyncNode[] = [];
  for (const db of dbs) {
    const node = await createSyncNode(db, { listenAddresses: ['/ip4/127.0.0.1/tcp/0'] });
    nodes.push(node);
    started.push(node);
  }
  return { dbs, nodes: started };
}

const ids = (db: Device): string[] => dump(db, 'todos').map((row) => (row as { id: string }).id);

describe('three sync nodes', () => {
  it('in a line A-B-C: A and C converge through B without ever connecting', async () => {
    const { dbs, nodes: [na, nb, nc] } = await threeDevices();
    const [a, b, c] = dbs as [Device, Device, Device];
    a.insert(todos).values({ id: 'from-a', title: 'written on A' }).run();
    c.insert(todos).values({ id: 'from-c', title: 'written on C' }).run();
    await nb!.dial(na!.getMultiaddrs()[0]!);
    await nb!.dial(nc!.getMultiaddrs()[0]!);
    await waitFor(() => ids(a).length === 2 && ids(c).length === 2, 10_000, 'A and C to hold both rows');
    // Live, through the middle: a later write on C reaches A.
    c.update(todos).set({ title: 'edited on C' }).run();
    await waitFor(() => isDeepStrictEqual(dump(a, 'todos'), dump(c, 'todos')), 10_000, 'the live edit to reach A through B');
    expect(na!.peers().map((p) => p.peerId)).toEqual([getDeviceId(b)]);
    expect(nc!.peers().map((p) => p.peerId)).toEqual([getDeviceId(b)]);
    expect(dump(b, 'todos')).toEqual(dump(a, 'todos'));
  });

  it('in a loop A-B-C-A: converges, then no more changes are sent around', async () => {
    const { dbs, nodes: [na, nb, nc] } = await threeDevices();
    const [a, b, c] = dbs as [Device, Device, Device];
    a.insert(todos).values({ id: 'x', title: 'from A' }).run();
    b.insert(todos).values({ id: 'y', title: 'from B' }).run();
    await na!.dial(nb!.getMultiaddrs()[0]!);
    await nb!.dial(nc!.getMultiaddrs()[0]!);
    await nc!.dial(na!.getMultiaddrs()[0]!);
    c.update(todos).set({ title: 'from C' }).run();
    await waitFor(() => isDeepStrictEqual(dump(a, 'todos'), dump(c, 'todos')) && isDeepStrictEqual(dump(a, 'todos'), dump(b, 'todos')) && ids(a).length === 2, 10_000, 'the loop to converge');
    expect(dump(a, 'todos')).toEqual(dump(c, 'todos'));

    // Quiet: once converged, the logs stop growing (no change ping-pongs around the loop).
    const logSize = () => dbs.map((db) => db.$connection.prepare('SELECT count(*) FROM ahenk_oplog', { integers: 'number' }).value() as number);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const settled = logSize();
    let received = 0;
    for (const node of [na!, nb!, nc!]) node.on('sync:progress', (p) => p.direction === 'receive' && received++);
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(logSize()).toEqual(settled);
    expect(received).toBe(0);
  });
});
