import { isDeepStrictEqual } from 'node:util';
import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { getOplogEntriesSince } from '../../src/index.ts';
import { createMemoryChannelPair, runSyncSession, type SyncSessionResult } from '../../src/transport.ts';
import type { SyncMessage } from '../../src/sync/protocol/index.ts';
import { dump, openDevice, openRaw } from '../helpers/db.ts';
import { todos } from '../helpers/schema.ts';
import { addTodos, delay, idOf, spy, syncPair, type Device } from './helpers.ts';

function converged(...dbs: Device[]): boolean {
  const first = dump(dbs[0]!, 'todos');
  return dbs.every((db) => isDeepStrictEqual(dump(db, 'todos'), first));
}

async function until(condition: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(5);
  }
}

/** A live session between two devices; every message is recorded in `traffic`. */
function liveLink(x: Device, y: Device, signal: AbortSignal, traffic: SyncMessage[]): Promise<SyncSessionResult[]> {
  const [cx, cy] = createMemoryChannelPair();
  const seen = { sent: traffic, received: [] as SyncMessage[] };
  return Promise.all([
    runSyncSession(x, spy(cx, seen), { localDeviceId: idOf(x), expectedRemoteDeviceId: idOf(y), live: true, signal }),
    runSyncSession(y, spy(cy, seen), { localDeviceId: idOf(y), expectedRemoteDeviceId: idOf(x), live: true, signal }),
  ]);
}

const entriesIn = (traffic: SyncMessage[]): number => traffic.reduce((n, m) => n + (m.type === 'batch' ? m.entries.length : 0), 0);

describe('more than two devices', () => {
  it('converges three devices in a line: B relays between A and C, who never meet', async () => {
    const [a, b, c] = [openDevice('a'), openDevice('b'), openDevice('c')];
    addTodos(a, 'a', 30);
    addTodos(c, 'c', 20);
    c.update(todos).set({ title: 'c wins' }).where(eq(todos.id, 'c-1')).run();
    await syncPair(a, b);
    const bc = await syncPair(b, c);
    expect(bc.a.sent).toBe(30);
    // 20 rows, one entry each; c-1's title carries a later stamp of its own, as a second clock group.
    expect(bc.b.sent).toBe(20);
    const c1 = getOplogEntriesSince(b).entries.find((e) => e.pk === 'c-1')!;
    expect(c1.groups).toHaveLength(2);
    expect(c1.groups.map((g) => g.values)).toContainEqual({ title: 'c wins' });
    const ab = await syncPair(a, b);
    expect(ab.b.sent).toBe(20);
    expect(ab.a.sent).toBe(0);
    expect(converged(a, b, c)).toBe(true);
    expect(a.$connection.prepare("SELECT title FROM todos WHERE id = 'c-1'").value()).toBe('c wins');
  });

  it('relays live writes along a line', async () => {
    const [a, b, c] = [openDevice('a'), openDevice('b'), openDevice('c')];
    const controller = new AbortController();
    const traffic: SyncMessage[] = [];
    const links = [liveLink(a, b, controller.signal, traffic), liveLink(b, c, controller.signal, traffic)];
    const shell = openRaw(a.path);
    shell.prepare("INSERT INTO todos (id, title) VALUES ('far', 'from A''s shell')").run();
    shell.close();
    await until(() => c.$connection.prepare("SELECT title FROM todos WHERE id = 'far'").value() !== undefined, 'A to reach C');
    c.delete(todos).where(eq(todos.id, 'far')).run();
    await until(() => a.$connection.prepare("SELECT count(*) FROM todos WHERE id = 'far'").value() === 0n, 'the delete to reach A');
    controller.abort();
    await Promise.all(links);
    expect(converged(a, b, c)).toBe(true);
  });

  it('stops traffic in a loop of catch-up sessions', async () => {
    const [a, b, c] = [openDevice('a'), openDevice('b'), openDevice('c')];
    addTodos(a, 'a', 10);
    addTodos(b, 'b', 10);
    addTodos(c, 'c', 10);
    const rounds: number[] = [];
    for (let round = 0; round < 5; round++) {
      let moved = 0;
      for (const [x, y] of [[a, b], [b, c], [c, a]] as const) {
        const run = await syncPair(x, y);
        moved += run.a.sent + run.b.sent;
      }
      rounds.push(moved);
      if (moved === 0) break;
    }
    expect(rounds.at(-1)).toBe(0);
    expect(rounds.length).toBeLessThanOrEqual(3);
    expect(converged(a, b, c)).toBe(true);
  });

  it('stops traffic in a loop of live sessions once every write has gone round', async () => {
    const [a, b, c] = [openDevice('a'), openDevice('b'), openDevice('c')];
    const controller = new AbortController();
    const traffic: SyncMessage[] = [];
    const links = [liveLink(a, b, controller.signal, traffic), liveLink(b, c, controller.signal, traffic), liveLink(c, a, controller.signal, traffic)];
    addTodos(a, 'a', 50);
    addTodos(c, 'c', 50);
    b.update(todos).set({ done: 1 }).where(eq(todos.id, 'zzz')).run();
    await until(() => converged(a, b, c) && dump(a, 'todos').length === 100, 'the loop to converge');
    b.update(todos).set({ title: 'edited on b' }).where(eq(todos.id, 'a-7')).run();
    await until(() => a.$connection.prepare("SELECT title FROM todos WHERE id = 'a-7'").value() === 'edited on b', 'the edit to go round');
    await delay(100);
    const settled = entriesIn(traffic);
    await delay(300);
    expect(entriesIn(traffic)).toBe(settled);
    // Each write crosses each of the three links at most once per direction it can take.
    expect(settled).toBeLessThanOrEqual(101 * 3 * 2);
    controller.abort();
    const results = (await Promise.all(links)).flat();
    expect(results).toHaveLength(6);
    expect(converged(a, b, c)).toBe(true);
  });
});
