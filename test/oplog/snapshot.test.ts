/**
 * A snapshot (src/oplog/snapshot.ts) gives what an export from the start gives, in key order,
 * table by table, in windows; with writes between its windows, the snapshot and the log after its
 * position still bring a peer to the same state.
 */
import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { getOplogEntriesSince, merge, type OplogEntry } from '../../src/index.ts';
import { beginSnapshot, exportSnapshotWindow, type SnapshotPosition } from '../../src/oplog/snapshot.ts';
import { foldOplog } from '../../src/oplog/fold.ts';
import { dump, openDevice } from '../helpers/db.ts';
import { canonical } from '../helpers/entries.ts';
import { counters, todos } from '../helpers/schema.ts';
import { seededRandom } from '../../bench/data.ts';

type Device = ReturnType<typeof openDevice>;

/** Every window of a snapshot from the start, `limit` entries each, and how many windows it took. */
function snapshotOf(db: Device, limit: number, between?: (window: number) => void): { entries: OplogEntry[][]; position: bigint } {
  const position = beginSnapshot(db.$connection);
  const windows: OplogEntry[][] = [];
  let at: SnapshotPosition | undefined;
  for (;;) {
    const window = exportSnapshotWindow(db.$connection, at, limit);
    windows.push(window.entries);
    expect(window.entries.length).toBeLessThanOrEqual(limit);
    if (window.next === undefined) break;
    at = window.next;
    between?.(windows.length);
  }
  return { entries: windows, position };
}

/** Random UUIDv4 texts from a seeded generator, plus keys that are not canonical UUIDs. */
function keys(count: number, seed: number): string[] {
  const random = seededRandom(seed);
  const hex = () => Math.floor(random() * 16).toString(16);
  const uuid = () => [8, 4, 4, 4, 12].map((n) => Array.from({ length: n }, hex).join('')).join('-');
  const out = Array.from({ length: count }, uuid);
  out.push('123', 'k-01', 'ABCDEF01-2345-4678-9abc-def012345678', '');
  return out;
}

/** A device with inserts, updates, deletes, a re-insert, merged writes from a peer (clock groups) and an unfolded tail. */
function busyDevice(): { a: Device; ids: string[] } {
  const a = openDevice('a');
  const b = openDevice('b');
  const ids = keys(60, 7);
  for (const [i, id] of ids.entries()) a.insert(todos).values({ id, title: `t${i}`, done: i, score: i / 4 }).run();
  for (const [i, id] of ids.entries()) if (i % 3 === 0) a.update(todos).set({ done: 1000 + i }).where(eq(todos.id, id)).run();
  for (const id of ids.slice(0, 20)) a.insert(counters).values({ id, high: 1, note: id.slice(0, 4) }).run();
  a.$connection.transaction(() => foldOplog(a.$connection));
  // b gets a's rows, writes over some of them, deletes one and adds its own; a merges that back.
  merge(b, getOplogEntriesSince(a).entries);
  for (const id of ids.slice(10, 20)) b.update(todos).set({ title: `from b ${id}` }).where(eq(todos.id, id)).run();
  b.delete(todos).where(eq(todos.id, ids[21]!)).run();
  for (let i = 0; i < 5; i++) b.insert(todos).values({ id: `b-${i}`, title: `b${i}` }).run();
  merge(a, getOplogEntriesSince(b).entries);
  // Local deletes (tombstones), a re-insert, and writes the fold has not reached.
  for (const id of ids.slice(30, 40)) a.delete(todos).where(eq(todos.id, id)).run();
  a.insert(todos).values({ id: ids[31]!, title: 'again' }).run();
  a.delete(counters).where(eq(counters.id, ids[3]!)).run();
  for (const id of ids.slice(40, 45)) a.update(todos).set({ score: -1 }).where(eq(todos.id, id)).run();
  return { a, ids };
}

describe('a snapshot', () => {
  it('gives what an export from the start gives, in key order table by table, tombstones after the rows, at any window size', () => {
    for (const limit of [1, 3, 7, 1000]) {
      const { a } = busyDevice();
      const full = getOplogEntriesSince(a);
      const { entries: windows, position } = snapshotOf(a, limit);
      const entries = windows.flat();
      expect(canonical(entries)).toEqual(canonical(full.entries));
      expect(position).toBe(BigInt(full.cursor));
      // Per table: live rows in key order, then deleted ones in key order.
      const tables = [...new Set(entries.map((e) => e.table))];
      expect(tables).toEqual(['todos', 'counters']);
      for (const table of tables) {
        const ofTable = entries.filter((e) => e.table === table);
        const live = ofTable.filter((e) => e.cl % 2 === 1).map((e) => e.pk);
        const gone = ofTable.filter((e) => e.cl % 2 === 0).map((e) => e.pk);
        expect(ofTable.map((e) => e.pk)).toEqual([...live, ...gone]);
        expect(live).toEqual([...live].sort());
        expect(gone).toEqual([...gone].sort());
        expect(gone.length).toBeGreaterThan(0);
      }
      if (limit < 1000) expect(windows.length).toBeGreaterThan(entries.length / limit);
      const c = openDevice('c');
      for (const window of windows) merge(c, window);
      expect(dump(c, 'todos')).toEqual(dump(a, 'todos'));
      expect(dump(c, 'counters')).toEqual(dump(a, 'counters'));
      expect(canonical(getOplogEntriesSince(c).entries)).toEqual(canonical(full.entries));
    }
  });

  it('with writes between its windows, then the log after its position, brings a peer to the same state', () => {
    const { a, ids } = busyDevice();
    const sorted = [...ids].sort();
    const { entries: windows, position } = snapshotOf(a, 5, (window) => {
      if (window !== 2) return;
      // Behind the snapshot's position, ahead of it, a delete ahead, an insert behind and one ahead.
      a.update(todos).set({ title: 'changed behind' }).where(eq(todos.id, sorted[1]!)).run();
      a.update(todos).set({ title: 'changed ahead' }).where(eq(todos.id, sorted[50]!)).run();
      a.delete(todos).where(eq(todos.id, sorted[55]!)).run();
      a.insert(todos).values({ id: '0000-new-behind', title: 'new behind' }).run();
      a.insert(todos).values({ id: 'zzzz-new-ahead', title: 'new ahead' }).run();
      a.update(counters).set({ high: 99 }).where(eq(counters.id, ids[5]!)).run();
    });
    const c = openDevice('c');
    for (const window of windows) merge(c, window);
    merge(c, getOplogEntriesSince(a, position.toString()).entries);
    expect(dump(c, 'todos')).toEqual(dump(a, 'todos'));
    expect(dump(c, 'counters')).toEqual(dump(a, 'counters'));
    expect(canonical(getOplogEntriesSince(c).entries)).toEqual(canonical(getOplogEntriesSince(a).entries));
    // The snapshot alone misses the write behind its position: the log after it is what brings it.
    const alone = openDevice('d');
    for (const window of windows) merge(alone, window);
    expect(dump(alone, 'todos')).not.toEqual(dump(a, 'todos'));
    // A row written ahead of the window reading it comes with the stamp of that write (from the
    // log's unfolded tail), not its new value under an older stamp.
    const ofRow = (db: Device, pk: string) => canonical(getOplogEntriesSince(db).entries).filter((w) => w.pk === pk);
    expect(ofRow(alone, sorted[50]!)).toEqual(ofRow(a, sorted[50]!));
    expect(dump(alone, 'todos').find((row) => (row as { id: string }).id === sorted[50])).toMatchObject({ title: 'changed ahead' });
  });

  it('of a database with nothing synced is one empty window, at the log\'s position', () => {
    const a = openDevice('a');
    const position = beginSnapshot(a.$connection);
    expect(position).toBe(0n);
    expect(exportSnapshotWindow(a.$connection, undefined, 10)).toEqual({ entries: [], next: undefined });
    expect(() => exportSnapshotWindow(a.$connection, undefined, 0)).toThrow(RangeError);
  });
});
