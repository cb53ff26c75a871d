/**
 * Fuzzing merge (issue 12, item 10): hostile entry shapes (wrong types, huge, negative and
 * non-finite numbers, long strings, prototype names, holes, getters, unknown tables and columns,
 * extra fields) and plausible entries mixed, merged into a real database. Every case either
 * applies or is refused with an AhenkError; a refused merge leaves every table (the app's, the
 * log, the quarantine) exactly as it was; no case hangs; memory stays bounded. Seeded;
 * AHENK_FUZZ_RUNS=100000 for the long mode.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { getDeviceId, getOplogEntriesSince, merge, type OplogEntry } from '../../src/index.ts';
import { decodeMessage, encodeMessage } from '../../src/sync/protocol/index.ts';
import { openDevice } from '../helpers/db.ts';
import { databaseDigest, fuzzRuns, heapUsed, refusedOrDone } from './helpers.ts';

const NOW = Date.now();
const hlc = (ms: number, counter = 0) => (ms * 65536 + counter).toString(16).padStart(16, '0');

const hostileName = fc.oneof(
  fc.constantFrom('title', 'done', 'score', 'data', 'high', 'tags', 'note', 'id'),
  fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'prototype', 'valueOf', ''),
  fc.string({ maxLength: 12 }),
  fc.constant('x'.repeat(300)),
);
const hostileValue = fc.oneof(
  fc.constant(null),
  fc.string({ maxLength: 30 }),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
  fc.double(),
  fc.integer(),
  fc.uint8Array({ maxLength: 32 }),
  fc.constantFrom(true, false, undefined, NaN, Infinity, -0, 2 ** 53, -(2 ** 63)),
  fc.constant({}),
  fc.constant([1, 2]),
  fc.constant(new Date(0)),
  fc.constant('y'.repeat(70_000)),
);
const stamp = fc.oneof(
  fc.integer({ min: -5000, max: 5000 }).map((d) => hlc(NOW + d, 3)),
  fc.constantFrom(hlc(NOW + 86_400_000), '0000000000000000', 'ffffffffffffffff', 'FFFF', '', 'zz', 'g'.repeat(16)),
  fc.anything(),
);
const values = fc.dictionary(hostileName, hostileValue, { maxKeys: 6 }).map((v) => {
  // Some values behind getters, as an app's objects may have them.
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(v)) Object.defineProperty(out, key, key.length % 3 === 0 ? { enumerable: true, get: () => v[key] } : { enumerable: true, value: v[key], writable: true });
  return out;
});
const group = fc.record({ hlc: stamp, device: fc.oneof(fc.constantFrom('peer-a', 'peer-b'), fc.string({ maxLength: 5 }), fc.anything()), values: fc.oneof(values, fc.anything()) }, { requiredKeys: [] });
const entry = fc.oneof(
  // Mostly plausible, so merge gets past validation often.
  fc.record({
    table: fc.constantFrom('todos', 'counters'),
    pk: fc.constantFrom('a', 'b', 'c', crypto.randomUUID()),
    cl: fc.integer({ min: 1, max: 4 }),
    groups: fc.array(fc.record({ hlc: fc.integer({ min: -5000, max: 5000 }).map((d) => hlc(NOW + d, 1)), device: fc.constantFrom('peer-a', 'peer-b'), values: fc.dictionary(fc.constantFrom('title', 'done', 'score', 'data', 'high', 'tags', 'note', 'extra'), hostileValue, { maxKeys: 3 }) }), { minLength: 1, maxLength: 3 }),
  }),
  fc.record({
    table: fc.oneof(fc.constantFrom('todos', 'counters', 'later', '__proto__', 'constructor', 'ahenk_oplog', ''), fc.anything()),
    pk: fc.oneof(fc.string({ maxLength: 10 }), fc.anything(), fc.constant('k'.repeat(5000))),
    cl: fc.oneof(fc.integer({ min: -3, max: 6 }), fc.constantFrom(2 ** 48, 2 ** 48 + 1, 2 ** 53, NaN, 1.5, Infinity), fc.anything()),
    groups: fc.oneof(fc.array(group, { maxLength: 4 }), fc.sparseArray(group, { maxLength: 4 }), fc.anything()),
    extra: fc.anything(),
  }, { requiredKeys: [] }),
  fc.anything(),
);

describe('merge under fuzzing', () => {
  const db = openDevice('merge-fuzz');
  const seen = { applied: 0, refused: 0, codes: new Map<string, number>() };

  const runs = fuzzRuns(1000);
  it('applies or refuses with a typed error, and a refusal changes nothing', { timeout: Math.max(30_000, runs * 10) }, () => {
    const before = heapUsed();
    fc.assert(
      fc.property(fc.oneof(fc.array(entry, { maxLength: 6 }), fc.sparseArray(entry, { maxLength: 6 })), (entries) => {
        const digest = databaseDigest(db.$connection);
        const error = refusedOrDone(() => merge(db, entries as OplogEntry[], { now: () => NOW }));
        if (error) {
          seen.refused++;
          seen.codes.set(error.code, (seen.codes.get(error.code) ?? 0) + 1);
          expect(databaseDigest(db.$connection)).toBe(digest);
        } else {
          seen.applied++;
        }
        expect(db.$connection.inTransaction).toBe(false);
      }),
      { seed: 1207, numRuns: runs },
    );
    const grown = heapUsed() - before;
    console.log(`merge fuzzed: ${runs} cases, ${seen.applied} merged, ${seen.refused} refused (${[...seen.codes].map(([c, n]) => `${c} ${n}`).join(', ')}), heap ${(grown / 1e6).toFixed(1)} MB more`);
    expect(seen.applied).toBeGreaterThan(0);
    expect(seen.refused).toBeGreaterThan(0);
    expect(grown).toBeLessThan(256 * 1024 * 1024);
    // What the fuzzing left is a database its own export can send: the wire takes it and a fresh
    // device merges it.
    expect(db.$connection.prepare('PRAGMA integrity_check').value()).toBe('ok');
    const { entries } = getOplogEntriesSince(db);
    expect(entries.length).toBeGreaterThan(0);
    const sender = getDeviceId(db);
    const frame = encodeMessage({ type: 'batch', batch: 1, cursor: '1', remaining: 0, entries }, { sender });
    const decoded = decodeMessage(frame, { sender });
    const fresh = openDevice('merge-fuzz-peer');
    expect(() => merge(fresh, decoded.type === 'batch' ? decoded.entries : [], { now: () => NOW })).not.toThrow();
  });
});
