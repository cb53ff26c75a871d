/**
 * Merge against a model of the CRDT rules: any batching, order and duplication of peer entries,
 * tables of 31 and 40 columns and with a dropped column; export windows rebuild the same database.
 */
import fc from 'fast-check';
import { integer } from 'drizzle-orm/sqlite-core';
import { describe, expect, it } from 'vitest';
import { merge, type OplogEntry, type SqlValue } from '../../src/index.ts';
import { delta, type Write } from '../helpers/entries.ts';
import { formatHlc, packHlc } from '../../src/clock/index.ts';
import { tempDir } from '../helpers/db.ts';
import { todos } from '../helpers/schema.ts';
import { w31, wide, slim, openShaped, closeAll, show, COLUMNS, DEFAULTS, tableRows, checkSplitIndex, exportInWindows, T } from '../helpers/shaped.ts';

// ---------------------------------------------------------------------------------------------
// The merge rules as a model: per row the highest causal length decides existence; per cell of
// that incarnation the highest (hlc, device) wins; other cells keep their defaults.
function model(entries: readonly Write[], table: string): Record<string, string[]> {
  const byPk = new Map<string, Write[]>();
  for (const e of entries) if (e.table === table) (byPk.get(e.pk) ?? byPk.set(e.pk, []).get(e.pk)!).push(e);
  const out: Record<string, string[]> = {};
  for (const pk of [...byPk.keys()].sort()) {
    const es = byPk.get(pk)!;
    const cl = Math.max(...es.map((e) => e.cl));
    if (cl % 2 === 0) continue;
    out[pk] = COLUMNS[table]!.map((c) => {
      let best: Write | undefined;
      for (const e of es) {
        if (e.cl !== cl || !(c in e.values)) continue;
        if (!best || e.hlc > best.hlc || (e.hlc === best.hlc && e.device > best.device)) best = e;
      }
      return best ? show(best.values[c]) : (DEFAULTS[table]?.[c] ?? 'null');
    });
  }
  return out;
}

const DEVICES = ['p1', 'p2', 'p3'] as const;

/** One peer entry without its stamp; stamps are given later, unique per entry. */
const rawEntry = fc.record({
  table: fc.constantFrom('todos', 'wide', 'w31', 'slim'),
  // Plain keys, canonical UUIDs (packed in the log's history index) and a UUID in upper case (kept as text).
  pk: fc.constantFrom('k0', 'k1', '0190c3a4-7b1e-7c2d-8e3f-4a5b6c7d8e9f', 'f47ac10b-58cc-4372-a567-0e02b2c3d479', 'F47AC10B-58CC-4372-A567-0E02B2C3D479'),
  cl: fc.integer({ min: 1, max: 5 }),
  insert: fc.boolean(),
  device: fc.constantFrom(...DEVICES),
  ms: fc.integer({ min: 0, max: 40 }),
  pick: fc.array(fc.boolean(), { minLength: 41, maxLength: 41 }),
  seed: fc.array(fc.nat(), { minLength: 41, maxLength: 41 }),
});

function valuesFor(table: string, pick: readonly boolean[], seed: readonly number[]): Record<string, SqlValue> {
  const values: Record<string, SqlValue> = {};
  const cols = table === 'slim' ? ['a', 'b', 'c', 'd'] : COLUMNS[table]!;
  cols.forEach((c, i) => {
    if (!pick[i]) return;
    const n = seed[i]!;
    if (table === 'todos') {
      const choices: SqlValue[] = c === 'title' ? ['x', 'y', ''] : c === 'done' ? [0n, 1n, 7n] : c === 'score' ? [null, 1.5, -2.25] : [null, new Uint8Array([1, 2]), new Uint8Array([])];
      values[c] = choices[n % choices.length]!;
    } else values[c] = [null, 'u', 'v', 'w'][n % 4]!;
  });
  return values;
}

type RawEntry = { table: string; pk: string; cl: number; insert: boolean; device: string; ms: number; pick: boolean[]; seed: number[] };

/**
 * The writes as entries: a write joins the entry before it as one more clock group when it is of
 * the same live row and incarnation and sets other columns (so entries of one to several groups).
 */
function deltas(writes: readonly Write[]): OplogEntry[] {
  const out: OplogEntry[] = [];
  for (const w of writes) {
    const last = out.at(-1);
    const names = Object.keys(w.values);
    const joins =
      last !== undefined &&
      last.table === w.table &&
      last.pk === w.pk &&
      last.cl === w.cl &&
      w.cl % 2 === 1 &&
      names.length > 0 &&
      last.groups.every((g) => Object.keys(g.values).length > 0 && names.every((n) => !(n in g.values)));
    if (joins) last.groups.push({ hlc: w.hlc, device: w.device, values: w.values });
    else out.push(delta(w));
  }
  return out;
}

function stamp(raws: readonly RawEntry[]): Write[] {
  return raws.map((r, i) => ({
    table: r.table,
    pk: r.pk,
    op: r.cl % 2 === 0 ? 'delete' : r.insert ? 'insert' : 'update',
    // The counter makes every stamp unique: no two different writes tie on (hlc, device).
    hlc: formatHlc(packHlc(T + r.ms, i)),
    device: r.device,
    cl: r.cl,
    values: r.cl % 2 === 0 ? {} : valuesFor(r.table, r.pick, r.seed),
  }));
}

/** A delivery plan: a permutation of all entries cut into batches, each in some order, some twice. */
const plan = fc.record({
  order: fc.array(fc.nat(), { minLength: 60, maxLength: 60 }),
  cuts: fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 60, maxLength: 60 }),
  modes: fc.array(fc.constantFrom('as-is', 'asc', 'desc', 'reverse'), { minLength: 60, maxLength: 60 }),
  dup: fc.array(fc.boolean(), { minLength: 60, maxLength: 60 }),
  limit: fc.integer({ min: 1, max: 12 }),
});
type Plan = { order: number[]; cuts: number[]; modes: string[]; dup: boolean[]; limit: number };

function batchesOf(entries: readonly OplogEntry[], p: Plan): OplogEntry[][] {
  const perm = entries.map((e, i) => ({ e, k: p.order[i % p.order.length]! * 1000 + i })).sort((x, y) => x.k - y.k).map((x) => x.e);
  const batches: OplogEntry[][] = [];
  let current: OplogEntry[] = [];
  perm.forEach((e, i) => {
    current.push(e);
    if (p.cuts[i % p.cuts.length] === 0) {
      batches.push(current);
      current = [];
    }
  });
  if (current.length > 0) batches.push(current);
  return batches.map((b, i) => {
    const mode = p.modes[i % p.modes.length];
    let out = b.slice();
    if (mode === 'asc') out.sort((x, y) => (x.pk < y.pk ? -1 : x.pk > y.pk ? 1 : 0));
    if (mode === 'desc') out.sort((x, y) => (x.pk < y.pk ? 1 : x.pk > y.pk ? -1 : 0));
    if (mode === 'reverse') out.reverse();
    if (p.dup[i % p.dup.length]) out = [...out, ...out.slice(0, Math.ceil(out.length / 2))];
    return out;
  });
}


const RUNS = Number(process.env.AHENK_REVIEW_RUNS ?? 60);

describe('merge against a model of the rules (new-row fast path, number masks, wide and dropped-column tables)', () => {
  it('any batching, order and duplication of peer entries ends in the model; the export windows rebuild it', () => {
    fc.assert(
      fc.property(fc.array(rawEntry, { minLength: 1, maxLength: 40 }), plan, (raws, p) => {
        try {
          const entries = stamp(raws);
          const dir = tempDir();
          const a = openShaped('a', dir);
          for (const batch of batchesOf(deltas(entries), p)) merge(a, batch, { now: () => T + 1000 });
          for (const table of ['todos', 'wide', 'w31', 'slim']) expect(tableRows(a, table), table).toEqual(model(entries, table));
          checkSplitIndex(a);
          const b = openShaped('b', dir);
          for (const w of exportInWindows(a, p.limit).windows) merge(b, w);
          // Rows created by empty-values entries only included (finding 2: they once never travelled).
          for (const table of ['todos', 'wide', 'w31', 'slim']) expect(tableRows(b, table), `${table} via windows`).toEqual(tableRows(a, table));
          checkSplitIndex(b);
        } finally {
          closeAll();
        }
      }),
      // A failure shrinks slowly (two databases per try): bounded so the suite stays short.
      // AHENK_REVIEW_RUNS=1500 for a deeper search (passed in review).
      { numRuns: RUNS, interruptAfterTimeLimit: RUNS * 1000, markInterruptAsFailure: true },
    );
  }, RUNS * 1000 + 30_000);
});
