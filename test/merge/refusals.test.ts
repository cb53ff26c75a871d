/**
 * Every refusal is typed and every count is true (issue 12, defect 5): a sparse array, a getter, a
 * proxy that throws, many copies of one entry, a length prefix that runs too long, and a full
 * quarantine's report of what it holds.
 */
import { describe, expect, it } from 'vitest';
import { InvalidEntryError, merge, QUARANTINE_LIMITS, QuarantineFullError, type OplogEntry, type SqlValue } from '../../src/index.ts';
import { formatHlc, packHlc } from '../../src/clock/timestamp.ts';
import { FrameDecoder } from '../../src/sync/protocol/framing.ts';
import { FrameTooLargeError } from '../../src/sync/protocol/errors.ts';
import { caught, dump, openDevice } from '../helpers/db.ts';

const NOW = Date.now() - 60_000;
const now = () => NOW;
const stamp = (ms: number, counter = 0): string => formatHlc(packHlc(ms, counter));

function entry(pk: string, values: Record<string, SqlValue>, hlc = stamp(NOW - 1000)): OplogEntry {
  return { table: 'todos', pk, cl: 1, groups: [{ hlc, device: 'peer-a', values }] };
}

const invalid = (fn: () => unknown) => {
  const error = caught(fn) as InvalidEntryError;
  expect(error).toBeInstanceOf(InvalidEntryError);
  expect(error.code).toBe('ENTRY_INVALID');
  return error;
};

describe('merge refuses bad entries with a typed error and applies nothing', () => {
  it('a hole in the array is an entry that is not an object', () => {
    const db = openDevice('holes');
    const entries = new Array<OplogEntry>(3);
    entries[1] = entry('a', { title: 'kept out' });
    const error = invalid(() => merge(db, entries, { now }));
    expect(error.message).toMatch(/#0: not an object/);
    expect(dump(db, 'todos')).toEqual([]);
  });

  it('a value behind a getter is read once, and what is stored is what was checked', () => {
    const db = openDevice('getter');
    let reads = 0;
    const values = {} as Record<string, SqlValue>;
    Object.defineProperty(values, 'title', { enumerable: true, get: () => (reads++ === 0 ? 'checked' : 5n ** 100n) });
    expect(merge(db, [entry('g', values)], { now })).toMatchObject({ applied: 1, unchanged: 0 });
    expect(reads).toBe(1);
    expect(db.$connection.prepare(`SELECT title FROM todos WHERE id = 'g'`).value()).toBe('checked');
  });

  it('a getter or a proxy that throws refuses its entry, not merge', () => {
    const db = openDevice('throws');
    const values = {} as Record<string, SqlValue>;
    Object.defineProperty(values, 'title', { enumerable: true, get: () => { throw new Error('boom'); } });
    expect(invalid(() => merge(db, [entry('ok', { title: 'fine' }), entry('t', values)], { now })).message).toMatch(/#1: reading column "title" threw: boom/);
    const hostile = new Proxy({}, { getOwnPropertyDescriptor: () => { throw new RangeError('trap'); } });
    expect(invalid(() => merge(db, [hostile as unknown as OplogEntry], { now })).message).toMatch(/#0: reading it threw: trap/);
    const values2 = new Proxy({ title: 'x' }, { ownKeys: () => { throw new TypeError('no keys'); } });
    expect(invalid(() => merge(db, [entry('p', values2 as Record<string, SqlValue>)], { now })).message).toMatch(/#0: reading it threw: no keys/);
    expect(dump(db, 'todos')).toEqual([]);
  });
});

describe('merge counts each entry by what it did', () => {
  it('copies of one entry: one applied, the rest unchanged', () => {
    const db = openDevice('copies');
    const one = entry('same', { title: 'same' });
    expect(merge(db, Array.from({ length: 1000 }, () => structuredClone(one)), { now })).toMatchObject({ applied: 1, unchanged: 999 });
    expect(merge(db, [one, one], { now })).toMatchObject({ applied: 0, unchanged: 2 });
  });

  it('an entry that a later one of the same batch overwrites whole changed nothing', () => {
    const db = openDevice('overwritten');
    const older = entry('r', { title: 'old', done: 0 }, stamp(NOW - 2000));
    const newer = entry('r', { title: 'new', done: 1 }, stamp(NOW - 1000));
    expect(merge(db, [older, newer], { now })).toMatchObject({ applied: 1, unchanged: 1 });
    // Entries that each win a column both count.
    const db2 = openDevice('split');
    const title = entry('s', { title: 'title' }, stamp(NOW - 2000));
    const done = entry('s', { title: 'older title', done: 1 }, stamp(NOW - 3000));
    expect(merge(db2, [done, title], { now })).toMatchObject({ applied: 2, unchanged: 0 });
    expect(dump(db2, 'todos')).toMatchObject([{ id: 's', title: 'title', done: 1n }]);
  });

  it('a delete delivered twice is applied once', () => {
    const db = openDevice('deletes');
    merge(db, [entry('d', { title: 'x' }, stamp(NOW - 3000))], { now });
    const del: OplogEntry = { table: 'todos', pk: 'd', cl: 2, groups: [{ hlc: stamp(NOW - 2000), device: 'peer-a', values: {} }] };
    expect(merge(db, [del, structuredClone(del)], { now })).toMatchObject({ applied: 1, unchanged: 1 });
  });
});

describe('a length prefix that runs too long', () => {
  it('is reported with a true lower bound of the frame it announces', () => {
    for (const bytes of [[0x80, 0x80, 0x80, 0x80, 0x01], [0x80, 0x80, 0x80, 0x80]]) {
      const error = caught(() => new FrameDecoder().push(new Uint8Array(bytes))) as FrameTooLargeError;
      expect(error).toBeInstanceOf(FrameTooLargeError);
      expect(error.code).toBe('PROTOCOL_FRAME_TOO_LARGE');
      expect(error.size).toBe(128 ** 4);
      expect(error.message).toMatch(/frame of at least 268435456 bytes .* length prefix runs past/);
    }
  });
});

describe('a full quarantine', () => {
  it('reports what stays held, apart from what the refused batch would have added', () => {
    const db = openDevice('full');
    db.$connection.prepare(`INSERT INTO ahenk_quarantine (table_name, reason, entry, received_at, bytes) VALUES ('gone', 'unknown-table: filler', x'00', 0, ?)`).run(QUARANTINE_LIMITS.bytes - 5000);
    const batch = [entry('a', { title: 'a', nope1: new Uint8Array(1000) }), entry('b', { title: 'b', nope2: new Uint8Array(1000) }), entry('c', { title: 'c', nope3: new Uint8Array(4000) })];
    const error = caught(() => merge(db, batch, { now })) as QuarantineFullError;
    expect(error).toBeInstanceOf(QuarantineFullError);
    expect(error.entries).toBe(1);
    expect(error.bytes).toBe(QUARANTINE_LIMITS.bytes - 5000);
    expect(error.batchEntries).toBe(2);
    expect(error.message).toMatch(/\(1 entries, \d+ bytes held; .*this batch would hold 2 more/);
    expect(db.$connection.prepare('SELECT count(*) FROM ahenk_quarantine').value()).toBe(1n);
    expect(dump(db, 'todos')).toEqual([]);
  });
});
