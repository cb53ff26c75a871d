/**
 * A soak of sync with compaction running: three nodes on 127.0.0.1 write, update and delete the
 * same few rows at random while each compacts its log every 50 ms. A and B sync live the whole
 * time; C works offline and connects only at the end, so it catches up from logs that were
 * compacted meanwhile. All three must end identical. Compaction deletes log rows under running
 * sessions (their export windows, echo ranges and cursors) and before a late catch-up, which the
 * differential compaction test (test/capture/compact-fuzz.test.ts) does not run over the network.
 */
import { isDeepStrictEqual } from 'node:util';
import { eq } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { getDeviceId } from '../../src/database/identity.ts';
import { createSyncNode, type SyncNode } from '../../src/sync/node/index.ts';
import { seededRandom } from '../../bench/data.ts';
import { dump, openDevice } from '../helpers/db.ts';
import { todos } from '../helpers/schema.ts';
import { authorizePeers, waitFor } from '../net/fixtures.ts';

type Device = ReturnType<typeof openDevice>;
const nodes: SyncNode[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

describe('live sync under compaction', () => {
  it('three nodes writing the same rows while compacting every 50 ms end identical, one of them catching up late', async () => {
    const dbs = ['a', 'b', 'c'].map((name) => openDevice(name));
    const ids = dbs.map((db) => getDeviceId(db));
    for (const [i, db] of dbs.entries()) await authorizePeers(db, ids.filter((_, j) => j !== i));
    const started: SyncNode[] = [];
    for (const db of dbs) {
      const node = await createSyncNode(db, { listenAddresses: ['/ip4/127.0.0.1/tcp/0'], compactIntervalMs: 50 });
      nodes.push(node);
      started.push(node);
    }
    const [na, nb, nc] = started as [SyncNode, SyncNode, SyncNode];
    await na.dial(nb.getMultiaddrs()[0]!);

    const random = seededRandom(Number(process.env.AHENK_SOAK_SEED ?? 7));
    const rounds = Number(process.env.AHENK_SOAK_ROUNDS ?? 400);
    for (let step = 0; step < rounds; step++) {
      const db = dbs[Math.floor(random() * 3)]!;
      const id = `row-${Math.floor(random() * 8)}`;
      const exists = db.select().from(todos).where(eq(todos.id, id)).get() !== undefined;
      const roll = random();
      if (!exists) db.insert(todos).values({ id, title: `t${step}`, done: step }).run();
      else if (roll < 0.15) db.delete(todos).where(eq(todos.id, id)).run();
      else if (roll < 0.6) db.update(todos).set({ done: step }).where(eq(todos.id, id)).run();
      else db.update(todos).set({ title: `t${step}`, score: step / 3 }).where(eq(todos.id, id)).run();
      // Let sessions and compaction run between writes now and then.
      if (step % 10 === 9) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const [a, b, c] = dbs as [Device, Device, Device];
    await nc.dial(na.getMultiaddrs()[0]!);
    await waitFor(() => isDeepStrictEqual(dump(a, 'todos'), dump(b, 'todos')) && isDeepStrictEqual(dump(b, 'todos'), dump(c, 'todos')), 20_000, 'the three to converge');
    // And compaction did work meanwhile: the logs hold fewer rows than there were writes.
    const logRows = a.$connection.prepare("SELECT count(*) FROM ahenk_oplog WHERE tbl = (SELECT id FROM ahenk_tables WHERE name = 'todos')", { integers: 'number' }).value() as number;
    expect(logRows).toBeLessThan(rounds);
    expect(dump(a, 'todos').length).toBeGreaterThan(0);
  }, 40_000);
});
