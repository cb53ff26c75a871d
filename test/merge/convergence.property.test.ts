/**
 * The CRDT laws, end to end: devices write concurrently through plain SQL (captured by the
 * triggers), exchange exports in random order, with duplicates and partial deliveries, and must
 * end byte-for-byte identical once everything has been delivered.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { getOplogEntriesSince, merge, type OplogEntry, type SqlValue } from '../../src/index.ts';
import { dump, openDevice } from '../helpers/db.ts';

const DEVICES = 3;
// Canonical UUIDs are packed in the log's history index, an upper-case one is not: rows converge either way.
const keys = fc.constantFrom('k0', 'k1', 'f47ac10b-58cc-4372-a567-0e02b2c3d479', 'F47AC10B-58CC-4372-A567-0E02B2C3D479');
const anyValue = fc.oneof(
  fc.constant(null),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.double({ noNaN: true }),
  fc.string({ maxLength: 6 }),
  fc.uint8Array({ maxLength: 4 }),
);

type Write =
  | { kind: 'put'; device: number; table: 'todos'; key: string; title: string; done: bigint; data: SqlValue }
  | { kind: 'put'; device: number; table: 'counters'; key: string; high: bigint; tags: string[]; note: string }
  | { kind: 'edit'; device: number; key: string; title: string }
  | { kind: 'delete'; device: number; table: 'todos' | 'counters'; key: string };
type Step = Write | { kind: 'sync'; from: number; to: number; pick: number[]; duplicate: boolean; reverse: boolean };

const device = fc.integer({ min: 0, max: DEVICES - 1 });
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('put' as const), device, table: fc.constant('todos' as const), key: keys, title: fc.string({ maxLength: 5 }), done: fc.bigInt({ min: 0n, max: 3n }), data: anyValue }),
  fc.record({
    kind: fc.constant('put' as const),
    device,
    table: fc.constant('counters' as const),
    key: keys,
    high: fc.bigInt({ min: 0n, max: 100n }),
    tags: fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { maxLength: 2 }),
    note: fc.string({ maxLength: 3 }),
  }),
  fc.record({ kind: fc.constant('edit' as const), device, key: keys, title: fc.string({ maxLength: 5 }) }),
  fc.record({ kind: fc.constant('delete' as const), device, table: fc.constantFrom('todos' as const, 'counters' as const), key: keys }),
  fc.record({
    kind: fc.constant('sync' as const),
    from: device,
    to: device,
    pick: fc.array(fc.nat(), { maxLength: 8 }),
    duplicate: fc.boolean(),
    reverse: fc.boolean(),
  }),
);

function runScenario(steps: Step[]): void {
  const dbs = Array.from({ length: DEVICES }, (_, i) => openDevice(`d${i}`));
  for (const s of steps) {
    if (s.kind === 'sync') {
      if (s.from === s.to) continue;
      // A partial delivery: a random subset of the sender's changes, maybe duplicated, maybe reversed.
      const all = getOplogEntriesSince(dbs[s.from]!).entries;
      if (all.length === 0) continue;
      let batch: OplogEntry[] = s.pick.map((i) => all[i % all.length]!);
      if (s.reverse) batch = batch.reverse();
      if (s.duplicate) batch = [...batch, ...batch];
      merge(dbs[s.to]!, batch);
      continue;
    }
    const raw = dbs[s.device]!.$connection;
    if (s.kind === 'delete') raw.prepare(`DELETE FROM ${s.table} WHERE id = ?`).run(s.key);
    else if (s.kind === 'edit') raw.prepare(`UPDATE todos SET title = ? WHERE id = ?`).run(s.title, s.key);
    else if (s.table === 'todos') {
      raw.prepare(`INSERT INTO todos (id, title, done, data) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET title = excluded.title, done = excluded.done, data = excluded.data`).run(s.key, s.title, s.done, s.data);
    } else {
      raw
        .prepare(`INSERT INTO counters (id, high, tags, note) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET high = excluded.high, tags = excluded.tags, note = excluded.note`)
        .run(s.key, s.high, JSON.stringify(s.tags), s.note);
    }
  }
  // Deliver everything, in both directions, until nothing changes.
  for (let round = 0; round < 3; round++) {
    for (let from = 0; from < DEVICES; from++) {
      for (let to = 0; to < DEVICES; to++) if (from !== to) merge(dbs[to]!, getOplogEntriesSince(dbs[from]!).entries);
    }
  }
  for (const table of ['todos', 'counters']) {
    const reference = dump(dbs[0]!, table);
    for (let i = 1; i < DEVICES; i++) expect(dump(dbs[i]!, table)).toEqual(reference);
  }
  // Converged devices have nothing left to teach each other.
  for (let i = 1; i < DEVICES; i++) expect(merge(dbs[i]!, getOplogEntriesSince(dbs[0]!).entries).applied).toBe(0);
  for (const db of dbs) db.$connection.close();
}

describe('convergence (property)', () => {
  it('three devices with random writes and random, partial, duplicated exchanges end identical', () => {
    fc.assert(fc.property(fc.array(step, { minLength: 5, maxLength: 40 }), runScenario), { numRuns: Number(process.env.AHENK_PROPERTY_RUNS ?? 60) });
  });

  it('converges on a concurrent delete, edit and re-insert of the same row', () => {
    runScenario([
      { kind: 'put', device: 0, table: 'todos', key: 'k0', title: 'a', done: 0n, data: null },
      { kind: 'sync', from: 0, to: 1, pick: [0], duplicate: false, reverse: false },
      { kind: 'sync', from: 0, to: 2, pick: [0], duplicate: false, reverse: false },
      { kind: 'delete', device: 0, table: 'todos', key: 'k0' },
      { kind: 'edit', device: 1, key: 'k0', title: 'edited on 1' },
      { kind: 'put', device: 2, table: 'todos', key: 'k0', title: 're-put on 2', done: 1n, data: null },
      { kind: 'sync', from: 1, to: 2, pick: [0, 1], duplicate: true, reverse: true },
    ]);
  });
});
