import { canonical, delta, holdsAllOf, writesOf } from '../helpers/entries.ts';
import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { compactOplog, getOplogEntriesSince, initializeDatabase, merge, type OplogEntry } from '../../src/index.ts';
import { formatHlc, packHlc } from '../../src/clock/index.ts';
import { seededRandom } from '../../bench/data.ts';
import { defaultAdapter } from '../../src/sqlite/index.ts';
import { dump, openDevice, peerAcknowledged, tempDir } from '../helpers/db.ts';
import { schema, todos } from '../helpers/schema.ts';

// A twin is a VACUUM INTO copy opened again: sqlite-wasm opens a path as an in-memory image, so it has no copy to open.
const twinsUnavailable = defaultAdapter() === 'sqlite-wasm' ? 'sqlite-wasm opens a path as an in-memory image' : undefined;
if (twinsUnavailable) console.warn(`skipping the twin tests: ${twinsUnavailable}`);

type Device = ReturnType<typeof openDevice>;
const logSize = (db: Device) => Number(db.$connection.prepare('SELECT count(*) FROM ahenk_oplog').value());
const cursors = (db: Device) => db.$connection.prepare('SELECT seq FROM ahenk_oplog ORDER BY seq').values().map(([seq]) => String(seq));

/** A history with every kind of write: re-updated cells, deletes, re-inserts, and rows merged from a peer with two stamps. */
function churn(a: Device, seed: number, peerRows = true): void {
  const random = seededRandom(seed);
  const key = () => `row-${Math.floor(random() * 12)}`;
  const T0 = Date.now() - 60_000;
  for (let step = 0; step < 300; step++) {
    const id = key();
    const exists = a.select().from(todos).where(eq(todos.id, id)).get() !== undefined;
    const roll = random();
    if (!exists) a.insert(todos).values({ id, title: `t${step}` }).run();
    else if (roll < 0.1) a.delete(todos).where(eq(todos.id, id)).run();
    else if (roll < 0.2 && peerRows) {
      const stamp = (ms: number) => formatHlc(packHlc(T0 + step * 10 + ms, 0));
      // A peer's row with cells at two stamps: logged as one row with two clock groups.
      merge(a, [
        {
          table: 'todos',
          pk: `peer-${step % 5}`,
          cl: 1,
          groups: [
            { hlc: stamp(0), device: 'peer', values: { title: 'p', score: 1.5 } },
            { hlc: stamp(1), device: 'peer', values: { done: BigInt(step) } },
          ],
        },
      ] satisfies OplogEntry[]);
    } else if (roll < 0.6) a.update(todos).set({ done: step }).where(eq(todos.id, id)).run();
    else a.update(todos).set({ title: `t${step}`, score: step / 7 }).where(eq(todos.id, id)).run();
  }
}

describe('compactOplog', () => {
  it('drops superseded entries and changes no export, from any cursor', () => {
    const a = openDevice('a');
    // A peer that has not acknowledged anything yet: the fold joins nothing (see the next test).
    peerAcknowledged(a, null);
    churn(a, 7);
    const before = logSize(a);
    const exports = new Map(cursors(a).map((c) => [c, getOplogEntriesSince(a, c).entries]));
    const full = getOplogEntriesSince(a).entries;

    const report = compactOplog(a);
    expect(report.removed).toBeGreaterThan(before / 2);
    expect(logSize(a)).toBe(before - report.removed);
    expect(getOplogEntriesSince(a).entries).toEqual(full);
    for (const [cursor, entries] of exports) expect(getOplogEntriesSince(a, cursor).entries).toEqual(entries);

    // A peer that syncs from the compacted log ends where one that synced before did.
    const b = openDevice('b');
    const c = openDevice('c');
    merge(b, full);
    merge(c, getOplogEntriesSince(a).entries);
    expect(dump(c, 'todos')).toEqual(dump(b, 'todos'));
    expect(dump(c, 'todos')).toEqual(dump(a, 'todos'));
  });

  it.skipIf(twinsUnavailable !== undefined)('joins each row\'s local entries up to the acknowledged position: nothing lost from any cursor, exact from there on', () => {
    const reference = openDevice('a');
    peerAcknowledged(reference, null);
    // No merge, so nothing folds before the copy's compaction: the whole log is the fold's tail.
    churn(reference, 7, false);
    // A byte copy of the same device, whose peer has acknowledged everything.
    const path = join(tempDir(), 'joined.db');
    reference.$connection.exec(`VACUUM INTO '${path}'`);
    const joined = Object.assign(initializeDatabase(path, { schema }), { path });
    const position = joined.$connection.prepare('SELECT max(seq) FROM ahenk_oplog').value() as bigint;
    peerAcknowledged(joined, position);
    const before = logSize(joined);
    const report = compactOplog(joined);
    expect(logSize(joined)).toBe(before - report.removed);
    // Local rows with clock groups: joined entries (merged rows always carry their own stamp).
    const joinedRows = Number(joined.$connection.prepare('SELECT count(*) FROM ahenk_oplog WHERE hlc IS NULL AND more IS NOT NULL').value());
    expect(joinedRows).toBeGreaterThan(0);
    const fromStart = getOplogEntriesSince(reference).entries;
    expect(canonical(getOplogEntriesSince(joined).entries)).toEqual(canonical(fromStart));
    for (const cursor of cursors(reference)) {
      expect(holdsAllOf(getOplogEntriesSince(joined, cursor).entries, getOplogEntriesSince(reference, cursor).entries, fromStart), `cursor ${cursor}`).toBeUndefined();
    }
    // Writes after the acknowledged position stay apart until the peer acknowledges them.
    joined.update(todos).set({ done: 1000 }).where(eq(todos.id, 'row-1')).run();
    joined.update(todos).set({ title: 'later' }).where(eq(todos.id, 'row-1')).run();
    const after = cursors(joined).filter((c) => BigInt(c) > position);
    compactOplog(joined);
    expect(cursors(joined).filter((c) => BigInt(c) > position)).toEqual(after);
    expect(after).toHaveLength(2);
    const b = openDevice('b');
    merge(b, getOplogEntriesSince(joined).entries);
    expect(dump(b, 'todos')).toEqual(dump(joined, 'todos'));
    joined.$connection.close();
  });

  it('keeps an entry while one of its cells is still its own, and each row its causal length', () => {
    const a = openDevice('a');
    a.insert(todos).values({ id: 'r', title: 'x' }).run();
    for (let i = 0; i < 10; i++) a.update(todos).set({ done: i + 1 }).where(eq(todos.id, 'r')).run();
    a.update(todos).set({ title: 'y' }).where(eq(todos.id, 'r')).run();
    // No peer: the fold joins the row's twelve entries into one log row (the nine superseded go).
    expect(compactOplog(a)).toEqual({ rows: 1, removed: 11, done: true });
    expect(logSize(a)).toBe(1);
    // The insert (its all-columns mask also stands for score and data), the last done, the title.
    expect(getOplogEntriesSince(a).entries.map((e) => [e.cl, e.groups.map((g) => Object.keys(g.values).sort())])).toEqual([
      [1, [['data', 'score'], ['done'], ['title']]],
    ]);
    // Delete and re-insert: only the new incarnation's entries stay, and triggers still count on.
    a.delete(todos).where(eq(todos.id, 'r')).run();
    a.insert(todos).values({ id: 'r', title: 'again' }).run();
    compactOplog(a);
    a.delete(todos).where(eq(todos.id, 'r')).run();
    expect(compactOplog(a).removed).toBe(1);
    expect(getOplogEntriesSince(a).entries.map((e) => [e.cl, e.groups.map((g) => g.values)])).toEqual([[4, [{}]]]);
  });

  it('drops a row with several clock groups only once newer entries cover all of them', () => {
    const a = openDevice('a');
    const at = (ms: number) => formatHlc(packHlc(Date.now() - 10_000 + ms, 0));
    merge(a, [
      delta({ table: 'todos', pk: 'g', op: 'insert', hlc: at(0), device: 'peer', cl: 1, values: { title: 'p', done: 0n, score: null, data: null } }),
      delta({ table: 'todos', pk: 'g', op: 'update', hlc: at(1), device: 'peer', cl: 1, values: { score: 2.5 } }),
    ]);
    a.update(todos).set({ title: 'mine', done: 1, data: Buffer.from([1]) }).where(eq(todos.id, 'g')).run();
    expect(compactOplog(a).removed).toBe(0);
    a.update(todos).set({ score: 3.5 }).where(eq(todos.id, 'g')).run();
    expect(compactOplog(a).removed).toBe(1);
    expect(writesOf(getOplogEntriesSince(a).entries).every((e) => e.device !== 'peer')).toBe(true);
  });

  it('works through a large log in slices that end where one run would', () => {
    const whole = openDevice('whole');
    const sliced = openDevice('sliced');
    for (const db of [whole, sliced]) churn(db, 11);
    const once = compactOplog(whole);
    let removed = 0;
    let runs = 0;
    for (let report = { done: false }; !report.done; runs++) {
      const slice = compactOplog(sliced, { maxEntries: 10 });
      removed += slice.removed;
      report = slice;
    }
    expect(runs).toBeGreaterThan(3);
    expect(removed).toBe(once.removed);
    expect(logSize(sliced)).toBe(logSize(whole));
    expect(() => compactOplog(sliced, { maxEntries: 0 })).toThrow(RangeError);
    expect(() => compactOplog(sliced, { maxEntries: 10, full: true })).toThrow(/full and maxEntries/);
  });

  it('examines only rows written since the last compaction unless asked for all', () => {
    const a = openDevice('a');
    for (const id of ['x', 'y', 'z']) a.insert(todos).values({ id }).run();
    expect(compactOplog(a).rows).toBe(3);
    expect(compactOplog(a)).toEqual({ rows: 0, removed: 0, done: true });
    a.update(todos).set({ done: 1 }).where(eq(todos.id, 'y')).run();
    expect(compactOplog(a)).toEqual({ rows: 1, removed: 0, done: true });
    expect(compactOplog(a, { full: true }).rows).toBe(3);
  });
});

describe('the causal-length index', () => {
  const indexed = (db: Device) => db.$connection.prepare('SELECT pk, cl FROM ahenk_oplog WHERE ix = 1 ORDER BY seq', { integers: 'number' }).values();
  const lastEntry = (db: Device, pk: string) => getOplogEntriesSince(db).entries.filter((e) => e.pk === pk).at(-1);

  it('holds only entries above causal length 1, folded or merged, so rows never deleted stay out of it', () => {
    const a = openDevice('a');
    a.insert(todos).values([{ id: 'kept', title: 'k' }, { id: 'gone', title: 'g' }]).run();
    a.update(todos).set({ done: 1 }).where(eq(todos.id, 'kept')).run();
    merge(a, [delta({ table: 'todos', pk: 'peer', op: 'insert', hlc: formatHlc(packHlc(Date.now() - 1000, 0)), device: 'peer', cl: 1, values: { title: 'p' } })]);
    a.delete(todos).where(eq(todos.id, 'gone')).run();
    a.insert(todos).values({ id: 'gone', title: 'back' }).run();
    compactOplog(a, { full: true });
    expect(indexed(a)).toEqual([['gone', 3]]);
  });

  it('keeps a re-inserted row\'s causal length after compaction drops the delete before it', () => {
    const a = openDevice('a');
    a.insert(todos).values({ id: 'r', title: 'first' }).run();
    a.delete(todos).where(eq(todos.id, 'r')).run();
    a.insert(todos).values({ id: 'r', title: 'second' }).run();
    // Folds the re-insert (causal length 3) and drops the insert and the delete it superseded.
    expect(compactOplog(a, { full: true }).removed).toBe(2);
    a.delete(todos).where(eq(todos.id, 'r')).run();
    expect(lastEntry(a, 'r')).toMatchObject({ cl: 4, groups: [{ values: {} }] });
    a.insert(todos).values({ id: 'r', title: 'third' }).run();
    expect(lastEntry(a, 'r')).toMatchObject({ cl: 5, groups: [{ values: { title: 'third' } }] });

    // A peer that saw every step ends with the same row.
    const b = openDevice('b');
    merge(b, getOplogEntriesSince(a).entries);
    expect(dump(b, 'todos')).toEqual(dump(a, 'todos'));
  });
});
