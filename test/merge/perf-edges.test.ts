/**
 * Edges of the 2026-11-26 performance changes: the drift horizon, rows created without values, the
 * validated working copy, RowGroups, export row order and new rows buffered per column set. Tests
 * named "finding N" failed before the fixes of cb8bc84.
 */
import { delta, writesOf, type Write } from '../helpers/entries.ts';
import fc from 'fast-check';
import { integer, text } from 'drizzle-orm/sqlite-core';
import { describe, expect, it } from 'vitest';
import { buildOplogEntry, getDeviceId, getOplogEntriesSince, localApply, merge, retryQuarantined, type OplogEntry, type SqlValue } from '../../src/index.ts';
import { formatHlc, HybridLogicalClock, MAX_COUNTER, packHlc } from '../../src/clock/index.ts';
import { decodeClockGroups } from '../../src/oplog/clock-groups.ts';
import { RowGroups } from '../../src/merge/row-groups.ts';
import { decodeHeldEntry } from '../../src/merge/held-codec.ts';
import { seededRandom } from '../../bench/data.ts';
import { dump, openDevice, tempDir } from '../helpers/db.ts';
import { todos } from '../helpers/schema.ts';
import { wide, checked, type Db, openShaped, closeAll, tableRows, exportInWindows, type Dev, T } from '../helpers/shaped.ts';

// ---------------------------------------------------------------------------------------------
// The drift check: a precomputed text horizon instead of `ms - wall > maxDriftMs`.
const WALL = 1_764_000_000_000;

/** Which of the stamps (ms offset from WALL, counter) merge quarantines for drift, in one merge. */
function quarantinedFor(db: Dev, maxDriftMs: number, stamps: readonly [number, number][]): boolean[] {
  const entries: OplogEntry[] = stamps.map(([offset, counter], i) => delta({
    table: 'todos',
    pk: `d${i}`,
    op: 'insert',
    hlc: formatHlc(packHlc(WALL + offset, counter)),
    device: 'peer',
    cl: 1,
    values: { title: 'x' },
  }));
  const held = new Set(merge(db, entries, { now: () => WALL + 0.75, maxDriftMs }).quarantined.filter((q) => q.reason === 'clock-drift').map((q) => q.index));
  return stamps.map((_, i) => held.has(i));
}

/** What HybridLogicalClock.receive (and merge before ded1743) decide: ms - wall > maxDriftMs. */
function oracle(maxDriftMs: number, stamps: readonly [number, number][]): boolean[] {
  const clock = new HybridLogicalClock({ now: () => WALL + 0.75, maxDriftMs });
  return stamps.map(([offset, counter]) => clock.driftOf(packHlc(WALL + offset, counter)) !== undefined);
}

const around = (d: number): [number, number][] => {
  const base = Number.isFinite(d) && Math.abs(d) < 1e6 ? Math.trunc(d) : 0;
  return [-2, -1, 0, 1, 2].flatMap((k) => [[base + k, 0] as [number, number], [base + k, MAX_COUNTER] as [number, number]]).filter(([o]) => WALL + o >= 0);
};

describe('the drift horizon', () => {
  it('agrees with HybridLogicalClock for integer, half-integer, zero, negative, huge and infinite allowances', () => {
    try {
      const a = openDevice('drift');
      const cases = [0, -0, 1, -1, 299_999, 300_000, -300_000, 0.5, -0.5, 1.5, 1e300, -1e300, Infinity, -Infinity, 2 ** 53, -(2 ** 53), -WALL, -WALL - 1];
      for (const d of cases) expect(quarantinedFor(a, d, around(d)), `maxDriftMs ${d}`).toEqual(oracle(d, around(d)));
      fc.assert(
        fc.property(fc.integer({ min: -5000, max: 5000 }), (d) => {
          expect(quarantinedFor(a, d, around(d))).toEqual(oracle(d, around(d)));
        }),
        { numRuns: 40 },
      );
    } finally {
      closeAll();
    }
  });

  // Finding 1 (low, from ded1743; fixed in cb8bc84): driftHorizon floored wallMs + maxDriftMs. A
  // fraction within about 1e-4 of an integer rounded the sum across it (1.764e12 + 0.9999 ===
  // 1.764e12 + 1), so merge accepted a stamp 1 ms ahead with maxDriftMs 0.9999 and one 0 ms ahead
  // with -0.0001, which HybridLogicalClock.receive and merge before ded1743 reject.
  it('finding 1: a fractional maxDriftMs near an integer does not move the horizon by a millisecond', () => {
    try {
      const a = openDevice('drift-frac');
      for (const d of [0.9999, -0.0001, 2.99995]) expect(quarantinedFor(a, d, around(d)), `maxDriftMs ${d}`).toEqual(oracle(d, around(d)));
    } finally {
      closeAll();
    }
  });

  // Finding 1 (low, from ded1743; fixed in cb8bc84): with maxDriftMs NaN, `!(limit >= 0)` gave the
  // horizon '' and merge quarantined every entry; `ms - wall > NaN` is false, so before ded1743
  // (and in HybridLogicalClock) nothing was.
  it('finding 1: maxDriftMs NaN quarantines nothing, as HybridLogicalClock does', () => {
    try {
      const a = openDevice('drift-nan');
      expect(quarantinedFor(a, Number.NaN, around(0))).toEqual(oracle(Number.NaN, around(0)));
    } finally {
      closeAll();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// A row that exists only through an entry with no (known) values is logged with an empty mask.
// Finding 2 (medium, older than today's commits: 61fd4ec did the same; fixed in cb8bc84): export
// skipped an entry that contributes no column unless the table had no columns at all, so such a
// row was on A but never in A's export, and no peer syncing from A ever got it.
describe('rows created without values', () => {
  it('finding 2: a row inserted with only its key through localApply reaches a peer', () => {
    try {
      const a = openDevice('a');
      const b = openDevice('b');
      localApply(a, buildOplogEntry(getDeviceId(a.$connection), 'todos', 'insert', { id: 'bare' }));
      expect(dump(a, 'todos')).toHaveLength(1);
      merge(b, getOplogEntriesSince(a).entries);
      expect(dump(b, 'todos')).toEqual(dump(a, 'todos'));
    } finally {
      closeAll();
    }
  });

  it('finding 2: a row a peer created with an empty-values entry is relayed (A-B-C)', () => {
    try {
      const b = openDevice('b');
      const c = openDevice('c');
      merge(b, [delta({ table: 'todos', pk: 'k', op: 'update', hlc: formatHlc(packHlc(Date.now() - 1000, 0)), device: 'peer-a', cl: 1, values: {} })]);
      expect(dump(b, 'todos')).toHaveLength(1);
      merge(c, getOplogEntriesSince(b).entries);
      expect(dump(c, 'todos')).toEqual(dump(b, 'todos'));
    } finally {
      closeAll();
    }
  });

  it('finding 2: a bare re-insert travels with its causal length, whole or in one-entry windows, and overrides a later delete of the old incarnation', () => {
    try {
      const at = (ms: number) => formatHlc(packHlc(Date.now() - 10_000 + ms, 0));
      const b = openDevice('b');
      merge(b, [
        delta({ table: 'todos', pk: 'k', op: 'insert', hlc: at(0), device: 'peer-a', cl: 1, values: { title: 'first' } }),
        delta({ table: 'todos', pk: 'k', op: 'delete', hlc: at(1), device: 'peer-a', cl: 2, values: {} }),
      ]);
      merge(b, [delta({ table: 'todos', pk: 'k', op: 'insert', hlc: at(2), device: 'peer-a', cl: 3, values: {} })]);
      for (const limit of [undefined, 1]) {
        const c = openDevice(`c${limit ?? ''}`);
        let cursor = '';
        for (let i = 0; i < 10; i++) {
          const next = getOplogEntriesSince(b, cursor, limit === undefined ? {} : { limit });
          merge(c, next.entries);
          if (next.cursor === cursor) break;
          cursor = next.cursor;
        }
        // A concurrent delete of the first incarnation (cl 2) must not remove the re-inserted row.
        merge(c, [delta({ table: 'todos', pk: 'k', op: 'delete', hlc: at(5), device: 'peer-z', cl: 2, values: {} })]);
        expect(dump(c, 'todos'), `limit ${limit}`).toEqual(dump(b, 'todos'));
        expect(dump(c, 'todos')).toHaveLength(1);
      }
    } finally {
      closeAll();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Merge's working copy carries `index` and `mask`: what a caller passes in those (or other extra
// fields) must change nothing, and quarantine must store the entry's own fields only.
describe('the validated working copy', () => {
  const at = (ms: number, c = 0) => formatHlc(packHlc(WALL - 60_000 + ms, c));
  const batch: OplogEntry[] = ([
    { table: 'todos', pk: 'n1', op: 'insert', hlc: at(1), device: 'p', cl: 1, values: { title: 'a', done: 1n } },
    { table: 'todos', pk: 'n1', op: 'update', hlc: at(2), device: 'p', cl: 1, values: { score: 2.5 } },
    { table: 'todos', pk: 'n2', op: 'insert', hlc: at(3), device: 'q', cl: 3, values: { title: 'b', nope: 'x' } },
    { table: 'todos', pk: 'n3', op: 'update', hlc: at(4), device: 'q', cl: 1, values: { title: 'c' } },
    { table: 'todos', pk: 'n3', op: 'update', hlc: at(5), device: 'p', cl: 1, values: { title: 'd' } },
    { table: 'todos', pk: 'n4', op: 'update', hlc: formatHlc(packHlc(WALL + 3_600_000, 0)), device: 'p', cl: 1, values: { title: 'later' } },
    { table: 'missing', pk: 'n5', op: 'insert', hlc: at(6), device: 'p', cl: 1, values: { x: 1n } },
    { table: 'wide', pk: 'w', op: 'insert', hlc: at(7), device: 'p', cl: 1, values: { c0: 'a', c39: 'z' } },
  ] satisfies Write[]).map(delta);
  const log = (db: Db) => db.$connection.prepare('SELECT seq, hlc, site, tbl, pk, op, cl, cols, hex(more), ix FROM ahenk_oplog ORDER BY seq').values();

  it('ignores index, mask and other extra fields of the caller; quarantine keeps seven fields and retries them', () => {
    try {
      const dir = tempDir();
      const clean = openShaped('clean', dir);
      const dirty = openShaped('dirty', dir);
      const extras = [{ index: 5, mask: 0 }, { index: -1, mask: 0x7fffffff }, { mask: -1 }, { index: 'x', mask: 1 << 30, seq: 7n }, { mask: 3 }];
      const junk = batch.map((e, i) => ({ ...e, ...extras[i % extras.length]!, groups: e.groups.map((g) => ({ ...g, ...extras[(i + 1) % extras.length]! })) }));
      const now = () => WALL;
      expect(merge(dirty, junk, { now })).toEqual(merge(clean, batch, { now }));
      for (const t of ['todos', 'wide']) expect(tableRows(dirty, t)).toEqual(tableRows(clean, t));
      expect(log(dirty)).toEqual(log(clean));
      const stored = dirty.$connection.prepare('SELECT entry FROM ahenk_quarantine ORDER BY id').values().map(([entry]) => entry as Uint8Array);
      expect(stored).toHaveLength(3);
      for (const bytes of stored) {
        const json = decodeHeldEntry(bytes);
        expect(Object.keys(json).sort()).toEqual(['cl', 'groups', 'pk', 'table']);
        for (const group of json.groups) expect(Object.keys(group).sort()).toEqual(['device', 'hlc', 'values']);
      }
      const later = () => WALL + 3_600_000;
      const retried = retryQuarantined(dirty, { now: later });
      expect(retried).toEqual(retryQuarantined(clean, { now: later }));
      expect(retried.applied).toBe(1);
      expect(tableRows(dirty, 'todos')).toEqual(tableRows(clean, 'todos'));
      expect(tableRows(dirty, 'todos')['n4']).toEqual(['t:later', 'i:0', 'null', 'null']);
    } finally {
      closeAll();
    }
  });
});

// ---------------------------------------------------------------------------------------------
describe('RowGroups', () => {
  it('equals grouping by a map for any keys, including empty, non-ASCII and repeated ones in any order', () => {
    const keys = fc.oneof(fc.constantFrom('', 'a', 'A', 'b', 'é', '\u{1F600}', 'a\u0000', 'k10', 'k9'), fc.string({ maxLength: 3 }));
    fc.assert(
      fc.property(fc.array(keys, { maxLength: 60 }), fc.boolean(), (pks, sort) => {
        const order = sort ? [...pks].sort() : pks;
        const groups = new RowGroups();
        const byMap = new Map<string, number[]>();
        order.forEach((pk, i) => {
          groups.add(pk, { table: 't', pk, hlc: '0000000000000001', device: 'd', cl: 1, values: {}, index: i, mask: 0 });
          (byMap.get(pk) ?? byMap.set(pk, []).get(pk)!).push(i);
        });
        expect(groups.keys.map((k, i) => [k, groups.groups[i]!.map((e) => e.index)])).toEqual([...byMap]);
      }),
      { numRuns: 500 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Export hands out each row's entries together, oldest first, rows in the order of their oldest
// entry, tables one after another.
describe('export order', () => {
  it('keeps each row together and in log order, rows by their oldest entry, from every cursor and window', () => {
    try {
      const a = openDevice('a');
      const random = seededRandom(11);
      const T0 = Date.now() - 600_000;
      for (let step = 0; step < 200; step++) {
        const id = `r${Math.floor(random() * 15)}`;
        const roll = random();
        const raw = a.$connection;
        if (roll < 0.3) raw.prepare('INSERT OR REPLACE INTO todos (id, title) VALUES (?, ?)').run(id, `t${step}`);
        else if (roll < 0.6) raw.prepare('UPDATE todos SET done = ? WHERE id = ?').run(step, id);
        else if (roll < 0.7) raw.prepare('DELETE FROM todos WHERE id = ?').run(id);
        else if (roll < 0.8) raw.prepare('INSERT OR REPLACE INTO counters (id, note) VALUES (?, ?)').run(id, `n${step}`);
        else {
          const s = (k: number) => formatHlc(packHlc(T0 + step * 10 + k, 0));
          merge(
            a,
            ([
              { table: 'todos', pk: `m${step % 6}`, op: 'insert', hlc: s(0), device: 'peer', cl: 1, values: { title: 'p', score: 1.5 } },
              { table: 'todos', pk: `m${step % 6}`, op: 'update', hlc: s(1), device: 'peer', cl: 1, values: { done: BigInt(step) } },
              { table: 'todos', pk: `m${step % 6}`, op: 'update', hlc: s(2), device: 'other', cl: 1, values: { data: new Uint8Array([step & 255]) } },
            ] satisfies Write[]).map(delta),
          );
        }
      }
      // Where each exported (table, key, stamp, device) was logged.
      const sites = new Map((a.$connection.prepare('SELECT id, device FROM ahenk_sites', { integers: 'number' }).values() as [number, string][]).map(([id, d]) => [id, d]));
      const names = new Map((a.$connection.prepare('SELECT id, name FROM ahenk_tables', { integers: 'number' }).values() as [number, string][]).map(([id, n]) => [id, n]));
      const seqOf = new Map<string, bigint>();
      for (const [seq, hlc, site, tbl, pk, more] of a.$connection.prepare("SELECT seq, printf('%016x', coalesce(hlc, seq)), site, tbl, pk, more FROM ahenk_oplog").values() as [bigint, string, bigint, bigint, string, Uint8Array | null][]) {
        const table = names.get(Number(tbl))!;
        seqOf.set(`${table}|${pk}|${hlc}|${sites.get(Number(site))}`, seq);
        if (more) for (const g of decodeClockGroups(more)) seqOf.set(`${table}|${pk}|${g.hlc}|${sites.get(g.site)}`, seq);
      }
      const check = (entries: readonly OplogEntry[]) => {
        const tables: string[] = [];
        const rows: string[] = [];
        let lastRowStart = -1n;
        let lastSeq = -1n;
        for (const e of writesOf(entries)) {
          const seq = seqOf.get(`${e.table}|${e.pk}|${e.hlc}|${e.device}`)!;
          expect(seq).toBeDefined();
          if (tables.at(-1) !== e.table) {
            expect(tables).not.toContain(e.table);
            tables.push(e.table);
            lastRowStart = -1n;
          }
          const row = `${e.table}|${e.pk}`;
          if (rows.at(-1) !== row) {
            expect(rows, `row ${row} comes back`).not.toContain(row);
            rows.push(row);
            expect(seq > lastRowStart, `row ${row} starts before the row ahead of it`).toBe(true);
            lastRowStart = seq;
          } else {
            expect(seq >= lastSeq, `row ${row} out of log order`).toBe(true);
          }
          lastSeq = seq;
        }
      };
      const seqs = a.$connection.prepare('SELECT seq FROM ahenk_oplog ORDER BY seq').values().map(([seq]) => String(seq));
      for (const cursor of ['', ...seqs.filter((_, i) => i % 7 === 0)]) check(getOplogEntriesSince(a, cursor).entries);
      for (const limit of [1, 2, 5, 17]) for (const w of exportInWindows(a as unknown as Db, limit).windows) check(w);
    } finally {
      closeAll();
    }
  });
});


// ---------------------------------------------------------------------------------------------
describe('new rows buffered per column set', () => {
  it('a row the table refuses is named by its own entry, whether its statement is flushed mid-batch or at the end', () => {
    try {
      const db = openShaped('checked');
      for (const bad of [3, 70, 131, 199]) {
        const writes: Write[] = Array.from({ length: 200 }, (_, i) => ({
          table: 'checked',
          pk: `r${String(i).padStart(3, '0')}`,
          op: 'insert',
          hlc: formatHlc(packHlc(T, i)),
          device: 'p',
          cl: 1,
          values: i % 3 === 0 ? { n: i === bad ? -1n : BigInt(i) } : i % 3 === 1 ? { n: i === bad ? -1n : 1n, s: 'x' } : { s: 'y' },
        }));
        if (bad % 3 === 2) (writes[bad]!.values as Record<string, SqlValue>)['n'] = -1n;
        const entries = writes.map(delta);
        let thrown: unknown;
        try {
          merge(db, entries);
        } catch (error) {
          thrown = error;
        }
        expect(thrown, `bad ${bad}`).toMatchObject({ name: 'InvalidEntryError', index: bad });
        expect(String((thrown as Error).message)).toContain(`"r${String(bad).padStart(3, '0')}"`);
        expect(db.$connection.prepare('SELECT count(*) FROM checked').value()).toBe(0n);
      }
    } finally {
      closeAll();
    }
  });
});
