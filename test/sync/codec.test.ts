import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import superjson from 'superjson';
import { eq } from 'drizzle-orm';
import { getDeviceId, getOplogEntriesSince, InvalidEntryError, type OplogEntry, type SqlValue } from '../../src/index.ts';
import { validateIndexedEntry } from '../../src/oplog/entry.ts';
import { isDecodedEntries } from '../../src/sync/protocol/entries.ts';
import { openDevice } from '../helpers/db.ts';
import { todos } from '../helpers/schema.ts';
import {
  decodeMessage,
  encodeBatchFrames,
  encodeFrame,
  encodeMessage,
  FrameDecoder,
  FrameTooLargeError,
  MAX_FRAME_BYTES,
  MESSAGE_TYPE,
  ProtocolError,
  UnsupportedVersionError,
  type BatchMessage,
} from '../../src/sync/protocol/index.ts';

const name = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 });
const value: fc.Arbitrary<SqlValue> = fc.oneof(
  fc.constant(null),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.constantFrom(2n ** 53n + 1n, -(2n ** 63n), 2n ** 63n - 1n, 0n),
  fc.double({ noNaN: true }),
  fc.constantFrom(-0, Infinity, -Infinity, 5e-324, 0.1),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'grapheme-ascii', maxLength: 200 }),
  fc.uint8Array({ maxLength: 64 }),
);
const device = fc.constantFrom('12D3KooWAlice', '12D3KooWBob', '12D3KooWCarol', 'dé vice ✓');
/** Entries of one to four clock groups over disjoint columns; a deleted incarnation has one empty group. */
const entry: fc.Arbitrary<OplogEntry> = fc
  .record({
    table: fc.constantFrom('todos', 'counters', 'ταμπλό', '__proto__'),
    // Canonical UUIDs travel as 16 bytes, near-misses (upper case, no hyphens) as strings.
    pk: fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 40 }),
      fc.uuid(),
      fc.uuid().map((u) => u.toUpperCase()),
      fc.uuid().map((u) => u.replaceAll('-', '')),
    ),
    deleted: fc.boolean(),
    cl: fc.integer({ min: 0, max: 2 ** 40 }),
    clocks: fc.array(fc.record({ hlc: fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }).map((h) => h.toString(16).padStart(16, '0')), device }), { minLength: 1, maxLength: 4 }),
    values: fc.dictionary(fc.oneof(name, fc.constant('__proto__')), value, { maxKeys: 8 }),
  })
  .map(({ table, pk, deleted, cl, clocks, values }): OplogEntry => {
    if (deleted) return { table, pk, cl: cl * 2 + 2, groups: [{ ...clocks[0]!, values: {} }] };
    const names = Object.keys(values);
    // Each group takes its share of the columns; groups left without one are dropped (but one stays).
    const groups = clocks.map((clock) => ({ ...clock, values: {} as Record<string, SqlValue> }));
    names.forEach((n, i) => Object.defineProperty(groups[i % groups.length]!.values, n, { value: values[n], enumerable: true, writable: true, configurable: true }));
    const kept = groups.filter((g) => Object.keys(g.values).length > 0);
    return { table, pk, cl: cl * 2 + 1, groups: kept.length > 0 ? kept : [groups[0]!] };
  });

/** Value equality that tells 0 from -0 and 1n from 1.0, as SQLite's storage classes do. */
function sameEntries(actual: readonly OplogEntry[], expected: readonly OplogEntry[]): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => {
    const e = expected[i]!;
    expect({ ...a, groups: undefined }).toEqual({ ...e, groups: undefined });
    expect(a.groups.length).toBe(e.groups.length);
    a.groups.forEach((ag, g) => {
      const eg = e.groups[g]!;
      expect({ ...ag, values: undefined }).toEqual({ ...eg, values: undefined });
      expect(Object.keys(ag.values)).toEqual(Object.keys(eg.values));
      for (const key of Object.keys(eg.values)) {
        const x = ag.values[key]!;
        const y = eg.values[key]!;
        expect(typeof x).toBe(typeof y);
        if (y instanceof Uint8Array) expect([...(x as Uint8Array)]).toEqual([...y]);
        else expect(Object.is(x, y)).toBe(true);
      }
    });
  });
}

/** The sender of the test batches: device reference 1 names it. */
const SENDER = '12D3KooWAlice';
function batch(entries: OplogEntry[], extra: Partial<BatchMessage> = {}): Uint8Array {
  return encodeMessage({ type: 'batch', batch: 1, cursor: '42', remaining: 7, entries, ...extra }, { sender: SENDER });
}
const decode = (frame: Uint8Array) => decodeMessage(frame, { sender: SENDER });
/** One write as an entry of one group. */
const one = (over: Partial<Omit<OplogEntry, 'groups'>> & { hlc?: string; device?: string; values?: Record<string, SqlValue> } = {}): OplogEntry => ({
  table: over.table ?? 't',
  pk: over.pk ?? 'p',
  cl: over.cl ?? 1,
  groups: [{ hlc: over.hlc ?? '0000000000000001', device: over.device ?? 'd', values: over.values ?? {} }],
});

function refuseEntry(fn: () => unknown, pattern: RegExp): void {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(ProtocolError);
  expect((error as ProtocolError).code).toBe('PROTOCOL_MALFORMED');
  expect((error as Error).message).toMatch(pattern);
}

describe('entry codec', () => {
  it('round-trips every storage class exactly (property)', () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 30 }), (entries) => {
        const decoded = decode(batch(entries));
        expect(decoded.type).toBe('batch');
        sameEntries((decoded as BatchMessage).entries, entries);
      }),
      { numRuns: 300 },
    );
  });

  it('sends a canonical UUID key as 16 bytes and anything else as the exact string', () => {
    const uuid = '0190a1b2-c3d4-7e5f-8a9b-00000000002a';
    const size = (pk: string) => batch([one({ pk })]).byteLength;
    // size('') holds a one-byte length prefix: the UUID form drops it and adds 16 bytes.
    expect(size(uuid)).toBe(size('') - 1 + 16);
    for (const pk of [uuid, uuid.toUpperCase(), uuid.replaceAll('-', ''), `${uuid} `]) {
      expect((decode(batch([one({ pk })])) as BatchMessage).entries[0]!.pk).toBe(pk);
    }
    expect(size(uuid.toUpperCase())).toBe(size('') + 36);
  });

  it('keeps -0.0, integers beyond 2^53 and a "__proto__" column as they are', () => {
    const e = one({ values: JSON.parse('{"__proto__": 1}') as Record<string, SqlValue> });
    const values = e.groups[0]!.values;
    Object.defineProperty(values, '__proto__', { value: 2n ** 62n + 1n, enumerable: true });
    values.z = -0;
    const out = (decode(batch([e])) as BatchMessage).entries[0]!.groups[0]!;
    expect(Object.getPrototypeOf(out.values)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(out.values, '__proto__')?.value).toBe(2n ** 62n + 1n);
    expect(Object.is(out.values.z, -0)).toBe(true);
  });

  it('reads stamps and integers the same on both sides of the 7-byte varint (number or BigInt), and refuses stamps outside 0..2^63-1 on either', () => {
    // A stamp delta or an integer whose zigzag takes at most 7 varint bytes (below 2^48) is read as a number.
    const edges = [2n ** 47n - 1n, 2n ** 47n, 2n ** 48n - 1n, 2n ** 48n, 2n ** 52n, 2n ** 53n + 1n];
    const integers = [0n, 1n, -1n, ...edges, ...edges.map((e) => -e), -(2n ** 63n), 2n ** 63n - 1n];
    const stamps = [42n, 41n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 32n - 1n, ...edges.map((e) => 2n ** 40n + e), 2n ** 40n, 2n ** 63n - 1n, 0n, 2n ** 62n, 2n ** 31n];
    const entries = stamps.map((stamp, i) => one({ pk: `k${i}`, hlc: stamp.toString(16).padStart(16, '0'), values: { v: integers[i % integers.length]! } }));
    const decoded = decode(batch(entries)) as BatchMessage;
    sameEntries(decoded.entries, entries);
    // One group before the bound, then one just past it: a small delta (number path) and a large one (BigInt path).
    const near = one({ pk: 'a', hlc: '7fffffffffffff00' });
    for (const past of ['8000000000000001', '8001000000000000']) refuseEntry(() => decode(batch([near, one({ pk: 'b', hlc: past })])), /entry #1: hlc out of range/);
    // Below zero (no encoder writes it): a batch at cursor 0 whose one entry's stamp is the delta -1
    // (zigzag 1: number path) or -2^62 (zigzag 2^63 - 1, nine varint bytes: BigInt path).
    const entryAt = (stamp: number[]) => new Uint8Array([MESSAGE_TYPE.batch, 1, 0, 0, 1, 0x00, 0, 1, 0x74, 1, 0x70, 1, 1, ...stamp, 0, 1, 0x64, 0]);
    expect((decode(entryAt([0x02])) as BatchMessage).entries[0]!.groups[0]!.hlc).toBe('0000000000000001');
    refuseEntry(() => decode(entryAt([0x01])), /entry #0: hlc out of range/);
    refuseEntry(() => decode(entryAt([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])), /entry #0: hlc out of range/);
  });

  it('marks a decoded batch as checked only when every entry passes merge\'s validation (text within its character limits too)', () => {
    const validates = (entries: readonly OplogEntry[]) => entries.every((entry, index) => (validateIndexedEntry(entry, index), true));
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 20 }), (entries) => {
        const decoded = (decode(batch(entries)) as BatchMessage).entries;
        expect(isDecodedEntries(decoded)).toBe(true);
        expect(validates(decoded)).toBe(true);
      }),
      { numRuns: 200 },
    );
    // Within the wire's byte limits (3 per character) but past merge's character limits: not marked,
    // so merge validates such a batch and refuses it, as it refuses the same entry handed to it directly.
    const long = (n: number) => 'é'.repeat(n);
    const cases: [OplogEntry, boolean][] = [
      [one({ table: long(256), values: { [long(256)]: 1n }, device: long(256), pk: long(4096) }), true],
      [one({ table: long(257) }), false],
      [one({ values: { [long(257)]: 1n } }), false],
      [one({ device: long(257) }), false],
      [one({ pk: long(4097) }), false],
    ];
    for (const [e, within] of cases) {
      const decoded = (decode(batch([e])) as BatchMessage).entries;
      expect(isDecodedEntries(decoded)).toBe(within);
      if (within) expect(validates(decoded)).toBe(true);
      else expect(() => validateIndexedEntry(decoded[0], 0)).toThrow(InvalidEntryError);
    }
    // Only the decoder's own arrays: a copy is validated by merge.
    const decoded = (decode(batch([one()])) as BatchMessage).entries;
    expect(isDecodedEntries([...decoded])).toBe(false);
  });

  it('splits a window into frames by size and only the last one carries the cursor', () => {
    const entries: OplogEntry[] = Array.from({ length: 100 }, (_, i) => one({ table: 'todos', pk: `row-${i}`, hlc: (1000 + i).toString(16).padStart(16, '0'), device: i % 2 ? SENDER : 'd', values: { title: 'x'.repeat(1000) } }));
    const frames = encodeBatchFrames(entries, { firstBatch: 5, cursor: '99', remaining: 3, sender: SENDER }, { targetBytes: 10_000 });
    expect(frames.length).toBeGreaterThan(5);
    const decoded = frames.map((f) => decode(f.frame) as BatchMessage);
    expect(decoded.map((d) => d.batch)).toEqual(frames.map((_, i) => 5 + i));
    expect(decoded.slice(0, -1).every((d) => d.cursor === '')).toBe(true);
    expect(decoded.at(-1)!.cursor).toBe('99');
    expect(decoded.at(-1)!.remaining).toBe(3);
    expect(decoded[0]!.remaining).toBe(3 + 100 - decoded[0]!.entries.length);
    sameEntries(decoded.flatMap((d) => d.entries), entries);
  });

  it('splits an entry larger than a frame by columns', () => {
    const e = one({ table: 'todos', pk: 'big', hlc: '0000000000000010', values: { a: 'a'.repeat(3000), b: 'b'.repeat(3000), c: 1n } });
    const frames = encodeBatchFrames([e], { firstBatch: 1, cursor: '1', remaining: 0 }, { targetBytes: 1000, maxFrameBytes: 4000 });
    expect(frames.length).toBeGreaterThan(1);
    for (const f of frames) expect(f.frame.byteLength).toBeLessThanOrEqual(4000);
    const parts = frames.flatMap((f) => (decodeMessage(f.frame) as BatchMessage).entries);
    expect(Object.assign({}, ...parts.flatMap((p) => p.groups.map((g) => g.values)))).toEqual(e.groups[0]!.values);
    expect(parts.every((p) => p.groups.every((g) => g.hlc === '0000000000000010' && g.device === 'd') && p.cl === e.cl && p.pk === 'big')).toBe(true);
  });

  it('splits an entry of several groups by cells, each cell keeping its own stamp and device', () => {
    const e: OplogEntry = {
      table: 'todos',
      pk: 'big',
      cl: 3,
      groups: [
        { hlc: '0000000000000010', device: 'd', values: { a: 'a'.repeat(3000), b: 1n } },
        { hlc: '0000000000000020', device: SENDER, values: { c: 'c'.repeat(3000) } },
        { hlc: '0000000000000005', device: 'e', values: { d: 'd'.repeat(2000), f: null } },
      ],
    };
    const frames = encodeBatchFrames([e], { firstBatch: 1, cursor: '1', remaining: 0, sender: SENDER }, { targetBytes: 1000, maxFrameBytes: 4000 });
    expect(frames.length).toBeGreaterThan(2);
    const parts = frames.flatMap((f) => (decode(f.frame) as BatchMessage).entries);
    const cells = (entries: readonly OplogEntry[]) => entries.flatMap((p) => p.groups.flatMap((g) => Object.entries(g.values).map(([c, v]) => [c, v, g.hlc, g.device]))).sort((x, y) => (String(x[0]) < String(y[0]) ? -1 : 1));
    expect(cells(parts)).toEqual(cells([e]));
    expect(parts.every((p) => p.cl === 3 && p.groups.every((g) => Object.keys(g.values).length > 0))).toBe(true);
  });

  it('carries an entry of several groups through superjson and the wire alike', () => {
    const e: OplogEntry = {
      table: 'todos',
      pk: '0190a1b2-c3d4-7e5f-8a9b-00000000002a',
      cl: 5,
      groups: [
        { hlc: '0190a1b2c3d40001', device: SENDER, values: { title: 'one', data: new Uint8Array([1, 2, 3]) } },
        { hlc: '0190a1b2c3d40000', device: '12D3KooWBob', values: { done: 2n ** 63n - 1n, score: -0.5 } },
        { hlc: '0190a1b2c3d50000', device: '12D3KooWBob', values: { note: null } },
      ],
    };
    const viaJson = superjson.parse<OplogEntry[]>(superjson.stringify([e]));
    sameEntries(viaJson, [e]);
    sameEntries((decode(batch(viaJson)) as BatchMessage).entries, [e]);
    // Three groups, two devices: the sender by reference 1, Bob spelled out once.
    expect(Buffer.from(batch([e])).includes(Buffer.from('12D3KooWBob'))).toBe(true);
    expect(Buffer.from(batch([e])).includes(Buffer.from(SENDER))).toBe(false);
  });

  it('names the sender by reference 1, which a decoder not told the sender refuses', () => {
    const frame = batch([one({ device: SENDER })]);
    expect((decode(frame) as BatchMessage).entries[0]!.groups[0]!.device).toBe(SENDER);
    expect((decodeMessage(frame, { sender: 'someone else' }) as BatchMessage).entries[0]!.groups[0]!.device).toBe('someone else');
    refuseEntry(() => decodeMessage(frame), /names the sender/);
  });

  it('takes at most 64 bytes, framing included, for a live write of one integer column of a UUID-keyed row', () => {
    const a = openDevice('a');
    const key = '0190a1b2-c3d4-7e5f-8a9b-00000000002a';
    a.insert(todos).values({ id: key, title: 'a title', done: 0 }).run();
    const { cursor } = getOplogEntriesSince(a);
    a.update(todos).set({ done: 1 }).where(eq(todos.id, key)).run();
    // What a live sender does: the window after the peer's cursor, as BATCH frames, each framed.
    const window = getOplogEntriesSince(a, cursor, { limit: 1000 });
    const me = getDeviceId(a.$connection);
    const frames = encodeBatchFrames(window.entries, { firstBatch: 7, cursor: window.cursor, remaining: 0, sender: me });
    expect(frames).toHaveLength(1);
    const bytes = encodeFrame(frames[0]!.frame).byteLength;
    console.log(`codec: a live write of one integer column takes ${bytes} bytes on the wire, framing included`);
    expect(bytes).toBeLessThanOrEqual(64);
    const decoded = decodeMessage(frames[0]!.frame, { sender: me }) as BatchMessage;
    expect(decoded.cursor).toBe(window.cursor);
    expect(decoded.entries).toEqual(window.entries);
    a.$connection.close();
  });

  it('costs at most 2x the raw size of the values per changed cell on typical rows', () => {
    // 4 columns: a 24-character title, a small integer, a REAL and a 16-byte blob (raw: 24 + 8 + 8 + 16).
    const entries: OplogEntry[] = Array.from({ length: 1000 }, (_, i) =>
      one({
        table: 'todos',
        pk: `0190a1b2-c3d4-7e5f-8a9b-${i.toString().padStart(12, '0')}`,
        hlc: (0x0190a1b2c3d40000n + BigInt(i)).toString(16).padStart(16, '0'),
        device: '12D3KooWNftxNKFSUDqjVSWduRPL2TE9V3tomBBtq7KZHK8t1SMz',
        values: { title: `buy milk and bread ${i.toString().padStart(5, '0')}`, done: BigInt(i % 2), score: i / 7, data: new Uint8Array(16).fill(i % 256) },
      }),
    );
    const raw = entries.reduce((sum, e) => sum + e.pk.length + 24 + 8 + 8 + 16, 0);
    const wire = encodeBatchFrames(entries, { firstBatch: 1, cursor: '1000', remaining: 0 }).reduce((sum, f) => sum + f.frame.byteLength, 0);
    expect(wire / raw).toBeLessThanOrEqual(2);
    console.log(`codec: ${(wire / (entries.length * 4)).toFixed(1)} wire bytes per cell, ${(wire / raw).toFixed(2)}x the raw values (key included)`);
  });
});

describe('message validation', () => {
  const good: OplogEntry = one({ table: 'todos', pk: 'a', values: { title: 'x' } });

  const refuse = (frame: Uint8Array, pattern: RegExp): void => refuseEntry(() => decode(frame), pattern);

  it('refuses truncated, padded and nonsensical frames with a reason', () => {
    const full = batch([good]);
    for (let cut = 1; cut < full.byteLength; cut++) expect(() => decodeMessage(full.subarray(0, cut))).toThrow(ProtocolError);
    refuse(new Uint8Array([...full, 0]), /unexpected bytes after batch/);
    refuse(new Uint8Array([0x42]), /unknown message type 0x42/);
    refuse(new Uint8Array([MESSAGE_TYPE.ack, 0]), /start at 1/);
    refuse(new Uint8Array([MESSAGE_TYPE.ack, 0x80, 0x00]), /not minimal/);
    refuse(new Uint8Array([MESSAGE_TYPE.ack, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), /longer than 8 bytes/);
    refuse(new Uint8Array([MESSAGE_TYPE.have, 3, 0x41, 0x20, 0x42]), /printable ASCII/);
    refuse(new Uint8Array([MESSAGE_TYPE.have, 100, 0x31]), /at most 64|only 1 left/);
    // An entry count that promises more than the frame holds is refused before any allocation.
    refuse(new Uint8Array([MESSAGE_TYPE.batch, 1, 0, 0, 0xff, 0xff, 0xff, 0x7f]), /entry count/);
  });

  it('refuses bad entry fields: unknown tags, NaN, invalid UTF-8, duplicate columns, dangling dictionary refs', () => {
    const frame = batch([one({ table: 'todos', pk: 'a', values: { title: 'x', done: 1n } })]);
    const at = (needle: number[], from = 0): number => {
      for (let i = from; i < frame.length; i++) if (needle.every((b, j) => frame[i + j] === b)) return i;
      throw new Error('needle not found');
    };
    const edit = (index: number, bytes: number[]): Uint8Array => {
      const copy = frame.slice();
      copy.set(bytes, index);
      return copy;
    };
    const doneTag = at([0x04, 0x64, 0x6f, 0x6e, 0x65]) + 5; // column "done", then its tag
    refuse(edit(doneTag, [9]), /unknown value tag 9/);
    const titleValue = at([0x03, 0x01, 0x78]); // text tag, length 1, "x"
    refuse(edit(titleValue + 2, [0xff]), /not valid UTF-8/);
    refuse(edit(doneTag - 6, [1]), /appears twice/); // second column name -> reference to the first
    refuse(edit(doneTag - 6, [5]), /column name is 5; at most 1/);
    const nan = encodeMessage({ type: 'batch', batch: 1, cursor: '', remaining: 0, entries: [one({ table: 'todos', pk: 'a', values: { score: 1.5 } })] });
    const view = new DataView(nan.buffer, nan.byteOffset);
    view.setFloat64(nan.byteLength - 8, Number.NaN, true);
    refuse(nan, /NaN/);
  });

  it('refuses entries whose groups break the unit: none, unknown flags, a column twice, an empty group beside others, a delete with cells', () => {
    // flags, table (new name "t"), key (string "p"), cl, group count, then per group: stamp, device (new name "d"), columns.
    const head = (cl: number, groups: number) => [MESSAGE_TYPE.batch, 1, 0, 0, 1, 0x00, 0, 1, 0x74, 1, 0x70, cl, groups];
    const group = (columns: number[]) => [2, 0, 1, 0x64, ...columns];
    const column = (name: number) => [0, 1, name, 0]; // new column name, NULL
    const frame = (bytes: number[]) => new Uint8Array(bytes);
    expect((decode(frame([...head(1, 2), ...group([1, ...column(0x61)]), 2, 2, 1, ...column(0x62)])) as BatchMessage).entries[0]!.groups).toHaveLength(2);
    refuse(frame([...head(1, 0)]), /at least one group|group count/);
    refuse(frame([...head(1, 1), ...group([0])].map((b, i) => (i === 5 ? 0x40 : b))), /unknown flags 64/);
    refuse(frame([...head(1, 2), ...group([1, ...column(0x61)]), 2, 2, 1, 1, 1, 0]), /appears twice/);
    refuse(frame([...head(1, 2), ...group([1, ...column(0x61)]), 2, 2, 0]), /sets no column/);
    refuse(frame([...head(2, 1), ...group([1, ...column(0x61)])]), /column count is 1; at most 0/);
    refuse(frame([...head(2, 2), ...group([0]), ...group([0])]), /group count is 2; at most 1/);
  });

  it('refuses a hello of another major with a message naming both versions, and accepts a newer minor', () => {
    const hello = encodeMessage({ type: 'hello', major: 1, minor: 3, schemaVersion: 1, deviceId: 'x', live: false, window: 4 });
    expect(() => decodeMessage(hello)).toThrow(UnsupportedVersionError);
    expect(() => decodeMessage(hello)).toThrow(/1\.3.*2\.1/);
    const newer = encodeMessage({ type: 'hello', major: 2, minor: 9, schemaVersion: 1, deviceId: 'x', live: true, window: 4 });
    const extended = new Uint8Array([...newer, 0x01, 0x02, 0x03]);
    expect(decodeMessage(extended)).toMatchObject({ type: 'hello', minor: 9, live: true });
    expect(() => decodeMessage(new Uint8Array([0x20, 1]))).toThrow(/unknown message type/);
    expect(decodeMessage(new Uint8Array([0x20, 1]), { extensions: true })).toEqual({ type: 'unknown', code: 0x20 });
  });

  it('keeps an error message readable and bounded', () => {
    const frame = encodeMessage({ type: 'error', code: 'PROTOCOL_VERSION', message: 'é'.repeat(5000) });
    const decoded = decodeMessage(frame);
    expect(decoded.type).toBe('error');
    expect(Buffer.byteLength((decoded as { message: string }).message)).toBeLessThanOrEqual(1024);
  });
});

describe('framing', () => {
  it('reassembles frames from any chunking (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { maxLength: 10 }), fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1 }), (payloads, cuts) => {
        const stream = Buffer.concat(payloads.map((p) => encodeFrame(p)));
        const decoder = new FrameDecoder();
        const out: Uint8Array[] = [];
        let offset = 0;
        for (let i = 0; offset < stream.length; i++) {
          const size = cuts[i % cuts.length]!;
          out.push(...decoder.push(stream.subarray(offset, offset + size)));
          offset += size;
        }
        decoder.finish();
        expect(out.map((f) => [...f])).toEqual(payloads.map((p) => [...p]));
      }),
    );
  });

  it('refuses an oversized length prefix before buffering the frame', () => {
    const decoder = new FrameDecoder();
    const huge = new Uint8Array([0x80, 0x80, 0x80, 0x40]); // 2^27 = 128 MiB
    expect(() => decoder.push(huge)).toThrow(FrameTooLargeError);
    expect(() => new FrameDecoder(1000).push(new Uint8Array([0xe9, 0x07]))).toThrow(/1001 bytes is larger than the limit of 1000/);
    expect(() => new FrameDecoder().push(new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x01]))).toThrow(FrameTooLargeError);
    expect(MAX_FRAME_BYTES).toBeGreaterThan(64 * 1024 * 1024);
  });

  it('refuses a stream that ends inside a frame, and empty frames', () => {
    const decoder = new FrameDecoder();
    expect(decoder.push(new Uint8Array([5, 1, 2]))).toEqual([]);
    expect(() => decoder.finish()).toThrow(/ended inside a frame/);
    expect(() => new FrameDecoder().push(new Uint8Array([0]))).toThrow(/empty frame/);
  });
});
