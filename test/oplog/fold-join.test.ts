/**
 * The fold joins a row's run of unindexed local entries into one log row with clock groups
 * (src/oplog/fold.ts), up to every known peer's acknowledged position.
 */
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { getOplogEntriesSince, initializeDatabase, merge } from '../../src/index.ts';
import { formatHlc, packHlc } from '../../src/clock/index.ts';
import { foldOplog } from '../../src/oplog/fold.ts';
import { defaultAdapter } from '../../src/sqlite/index.ts';
import { dump, openDevice, peerAcknowledged, tempDir } from '../helpers/db.ts';
import { canonical, delta, holdsAllOf } from '../helpers/entries.ts';
import { schema, todos } from '../helpers/schema.ts';
import { seededRandom } from '../../bench/data.ts';

// A twin is a VACUUM INTO copy opened again: sqlite-wasm opens a path as an in-memory image, so it has no copy to open.
const twinsUnavailable = defaultAdapter() === 'sqlite-wasm' ? 'sqlite-wasm opens a path as an in-memory image' : undefined;
if (twinsUnavailable) console.warn(`skipping the twin tests: ${twinsUnavailable}`);

type Device = ReturnType<typeof openDevice>;
const ROWS = 50;
const count = (db: Device, where = '1') => Number(db.$connection.prepare(`SELECT count(*) FROM ahenk_oplog WHERE ${where}`).value());
const maxSeq = (db: Device) => db.$connection.prepare('SELECT max(seq) FROM ahenk_oplog').value() as bigint;
const fold = (db: Device) => db.$connection.transaction(() => foldOplog(db.$connection));

/** Inserts ROWS rows, then updates `done` in each: two log rows per row. Returns the seq between. */
function insertThenUpdate(db: Device): bigint {
  for (let i = 0; i < ROWS; i++) db.insert(todos).values({ id: `r${String(i).padStart(3, '0')}`, title: `t${i}`, score: i / 2 }).run();
  const between = maxSeq(db);
  for (let i = 0; i < ROWS; i++) db.update(todos).set({ done: i + 1 }).where(eq(todos.id, `r${String(i).padStart(3, '0')}`)).run();
  return between;
}

/** A byte copy of `db` as a second handle on the same device (the twin that is not folded differently). */
function twinOf(db: Device): Device {
  const path = join(tempDir(), 'twin.db');
  db.$connection.exec(`VACUUM INTO '${path}'`);
  return Object.assign(initializeDatabase(path, { schema }), { path });
}

describe('the fold joins a row\'s local entries', () => {
  it('with no peer, leaves one log row and one index entry per row, and the same export from the start and from its end', () => {
    const a = openDevice('a');
    const between = insertThenUpdate(a);
    const last = maxSeq(a);
    const before = getOplogEntriesSince(a).entries;
    const fromBetween = getOplogEntriesSince(a, between.toString()).entries;
    expect(count(a)).toBe(2 * ROWS);
    expect(fold(a)).toEqual({ indexed: ROWS, joined: ROWS });
    expect(count(a)).toBe(ROWS);
    expect(count(a, 'ix = 0')).toBe(ROWS);
    // Each row: the update's stamp in its own columns, the insert's in one 20-byte group.
    expect(count(a, 'hlc IS NULL AND length(more) = 20')).toBe(ROWS);
    expect(maxSeq(a)).toBe(last);
    expect(canonical(getOplogEntriesSince(a).entries)).toEqual(canonical(before));
    expect(getOplogEntriesSince(a, last.toString()).entries).toEqual([]);
    // From a cursor between the joined entries the insert's cells come again, with their stamps.
    expect(holdsAllOf(getOplogEntriesSince(a, between.toString()).entries, fromBetween, before)).toBeUndefined();
    expect(getOplogEntriesSince(a, between.toString()).entries).toHaveLength(ROWS);
    const b = openDevice('b');
    merge(b, getOplogEntriesSince(a).entries);
    expect(dump(b, 'todos')).toEqual(dump(a, 'todos'));
  });

  it('joins nothing past the lowest acknowledged position, and nothing while a peer has acknowledged nothing', () => {
    const a = openDevice('a');
    peerAcknowledged(a, null, 'p1');
    insertThenUpdate(a);
    expect(fold(a)).toEqual({ indexed: 2 * ROWS, joined: 0 });

    const c = openDevice('c');
    peerAcknowledged(c, null, 'p1');
    const between = insertThenUpdate(c);
    peerAcknowledged(c, maxSeq(c), 'p1');
    peerAcknowledged(c, between, 'p2');
    // p2 may hold a cursor between an insert and its update: nothing is joined across it.
    expect(fold(c)).toEqual({ indexed: 2 * ROWS, joined: 0 });

    const d = openDevice('d');
    peerAcknowledged(d, null, 'p1');
    insertThenUpdate(d);
    const position = maxSeq(d);
    for (let i = 0; i < 5; i++) d.update(todos).set({ title: `later ${i}` }).where(eq(todos.id, 'r000')).run();
    peerAcknowledged(d, position, 'p1');
    // Up to the position every row's two entries join; the five later ones stay apart.
    expect(fold(d)).toEqual({ indexed: ROWS + 5, joined: ROWS });
    expect(count(d, `seq > ${position}`)).toBe(5);
  });

  it('keeps the entries on either side of a delete apart, and each incarnation its causal length', () => {
    const a = openDevice('a');
    a.insert(todos).values({ id: 'k', title: 'one' }).run();
    a.update(todos).set({ done: 1 }).where(eq(todos.id, 'k')).run();
    a.delete(todos).where(eq(todos.id, 'k')).run();
    a.insert(todos).values({ id: 'k', title: 'two' }).run();
    a.update(todos).set({ score: 2.5 }).where(eq(todos.id, 'k')).run();
    const before = getOplogEntriesSince(a).entries;
    expect(fold(a)).toEqual({ indexed: 2, joined: 2 });
    expect(a.$connection.prepare('SELECT cl, length(more) FROM ahenk_oplog ORDER BY seq').values()).toEqual([
      [1n, 20n],
      [2n, null],
      [3n, 20n],
    ]);
    expect(canonical(getOplogEntriesSince(a).entries)).toEqual(canonical(before));
    a.delete(todos).where(eq(todos.id, 'k')).run();
    expect(a.$connection.prepare('SELECT max(cl) FROM ahenk_oplog').value()).toBe(4n);
  });

  it.skipIf(twinsUnavailable !== undefined)('gives merge the same decisions as the separate entries did', () => {
    const joined = openDevice('a');
    // The twin opens with a peer that acknowledged nothing, so its opening fold joins nothing.
    peerAcknowledged(joined, null);
    const between = insertThenUpdate(joined);
    const separate = twinOf(joined);
    joined.$connection.prepare('DELETE FROM ahenk_cursors').run();
    const last = maxSeq(joined);
    // Remote writes stamped between the inserts and the last updates: they lose on `done` (updated
    // later here) and win on `title` (set only by the insert).
    const stamp = formatHlc(BigInt(between) + (BigInt(last) - BigInt(between)) / 2n);
    const entries = ['r045', 'r047', 'r049'].flatMap((pk) => [
      delta({ table: 'todos', pk, hlc: stamp, device: 'peer', cl: 1, values: { done: 99n } }),
      delta({ table: 'todos', pk, hlc: stamp, device: 'peer', cl: 1, values: { title: 'remote' } }),
    ]);
    const early = formatHlc(packHlc(1_000, 0));
    entries.push(delta({ table: 'todos', pk: 'r030', hlc: early, device: 'peer', cl: 1, values: { score: 9.5 } }));
    expect(merge(joined, entries)).toEqual(merge(separate, entries));
    expect(count(joined)).toBeLessThan(count(separate));
    expect(dump(joined, 'todos')).toEqual(dump(separate, 'todos'));
    const rows = dump(joined, 'todos') as Record<string, unknown>[];
    const r049 = rows.find((r) => r['id'] === 'r049')!;
    expect([r049['title'], Number(r049['done'])]).toEqual(['remote', 50]);
    expect(rows.find((r) => r['id'] === 'r030')!['score']).toBe(15);
    expect(canonical(getOplogEntriesSince(joined).entries)).toEqual(canonical(getOplogEntriesSince(separate).entries));
    separate.$connection.close();
  });

  it('joins the local writes logged after a merged row of the same row and keeps that row apart (a UUID key, which merge may log packed)', () => {
    const a = openDevice('a');
    const key = '0192f1a2-7b3c-7d4e-8f50-123456789abc';
    a.insert(todos).values({ id: key, title: 'mine' }).run();
    const afterInsert = maxSeq(a);
    // Merge folds first (the insert alone: nothing to join), then logs the peer's winning title.
    merge(a, [delta({ table: 'todos', pk: key, hlc: formatHlc(afterInsert + 1n), device: 'peer', cl: 1, values: { title: 'theirs' } })]);
    a.update(todos).set({ done: 7 }).where(eq(todos.id, key)).run();
    a.update(todos).set({ score: 0.5 }).where(eq(todos.id, key)).run();
    const before = getOplogEntriesSince(a).entries;
    // The tail: the merged row, then two local updates: those two join, the merged row stays before them.
    expect(fold(a)).toEqual({ indexed: 1, joined: 1 });
    expect(count(a)).toBe(3);
    expect(canonical(getOplogEntriesSince(a).entries)).toEqual(canonical(before));
    const b = openDevice('b');
    merge(b, getOplogEntriesSince(a).entries);
    expect(dump(b, 'todos')).toEqual(dump(a, 'todos'));
    expect((dump(b, 'todos')[0] as Record<string, unknown>)['title']).toBe('theirs');
  });
});

describe.skipIf(twinsUnavailable !== undefined)('the fold\'s two ways of joining', () => {
  /** Every log row, as bytes and numbers, in log order. */
  const logOf = (db: Device) => db.$connection.prepare('SELECT seq, tbl, hex(pk), typeof(pk), op, cl, cols, hlc, site, ix, hex(more) FROM ahenk_oplog ORDER BY seq').values();

  // Pairs (an insert and one update, two updates) are joined in SQL; every other run in JS. Both
  // must leave the same log: the same workload folded each way on twin copies.
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`seed ${seed}: pairs joined in SQL leave the log the general join leaves`, () => {
      const random = seededRandom(seed);
      const a = openDevice('a');
      const keys = Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? `0192f1a2-7b3c-7d4e-8f50-${String(i).padStart(12, '0')}` : `key-${i}`));
      const alive = new Set<string>();
      let remoteStamp = 1_000;
      let [pairs, longer, joined] = [0, 0, 0];
      for (let round = 0; round < 6; round++) {
        for (let step = 0; step < 60; step++) {
          const key = keys[Math.floor(random() * keys.length)]!;
          const roll = random();
          if (!alive.has(key)) {
            a.insert(todos).values({ id: key, title: `t${step}` }).run();
            alive.add(key);
          } else if (roll < 0.12) {
            a.delete(todos).where(eq(todos.id, key)).run();
            alive.delete(key);
          } else if (roll < 0.15 && step < 30) {
            // A peer's change, logged (and indexed) by merge, with an old stamp or a new one.
            remoteStamp += 1;
            const hlc = formatHlc(random() < 0.5 ? packHlc(remoteStamp, 0) : maxSeq(a) + 1n);
            merge(a, [delta({ table: 'todos', pk: key, hlc, device: 'peer', cl: 1, values: { score: step / 4 } })]);
          } else {
            // A random non-empty set of columns, so two updates of a row overlap in every way.
            const bits = 1 + Math.floor(random() * 7);
            const set = { ...(bits & 1 ? { title: `u${step}` } : {}), ...(bits & 2 ? { done: step } : {}), ...(bits & 4 ? { score: step / 2 } : {}) };
            a.update(todos).set(set).where(eq(todos.id, key)).run();
          }
        }
        if (random() < 0.3) peerAcknowledged(a, random() < 0.5 ? maxSeq(a) : null, `p${round}`);
        const runs = (having: string) =>
          Number(a.$connection.prepare(`SELECT count(*) FROM (SELECT 1 FROM ahenk_oplog WHERE seq > (SELECT folded FROM ahenk_clock) GROUP BY tbl, pk HAVING ${having})`).value());
        pairs += runs('count(*) = 2 AND count(ix) = 0');
        longer += runs('count(*) - count(ix) > 2');
        const b = twinOf(a);
        const inSql = a.$connection.transaction(() => foldOplog(a.$connection));
        const inJs = b.$connection.transaction(() => foldOplog(b.$connection, { pairsInSql: false }));
        expect(inSql).toEqual(inJs);
        expect(logOf(a)).toEqual(logOf(b));
        joined += inSql.joined;
        b.$connection.close();
      }
      // The workload had both kinds of run, and entries were joined.
      expect(pairs).toBeGreaterThan(0);
      expect(longer).toBeGreaterThan(0);
      expect(joined).toBeGreaterThan(0);
    });
  }
});
