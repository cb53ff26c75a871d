// The core that runs in the browser's worker (values, the log's clock groups, the export's scan,
// entry validation, resolvers) must not need Node's Buffer: a browser has none.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { bytesFromHex, decodeClockGroups, encodeClockGroups, forEachClockGroup, writeClockGroup, GROUP_BYTES } from '../../src/oplog/clock-groups.ts';
import { ENTRY_LIMITS, validateEntry } from '../../src/oplog/entry.ts';
import { union } from '../../src/schema/resolvers.ts';
import { utf8ByteLength } from '../../src/sqlite/values.ts';
import { countQuarantined, merge, migrateDatabase, retryQuarantined } from '../../src/index.ts';
import { formatHlc, packHlc } from '../../src/clock/timestamp.ts';
import { openDevice } from '../helpers/db.ts';
import { todosWithExtra } from '../helpers/schema.ts';

describe('the core without Node Buffer (as in a browser)', () => {
  const saved = globalThis.Buffer;
  beforeEach(() => {
    (globalThis as { Buffer?: unknown }).Buffer = undefined;
  });
  afterEach(() => {
    globalThis.Buffer = saved;
  });

  it('encodes, decodes and visits clock groups, and reads the hex SQLite gives for them', () => {
    const groups = [
      { hlc: '0123456789abcdef', site: 4_000_000_000, mask: (1n << 61n) | 5n },
      { hlc: 'fedcba9876543210', site: 0, mask: 1n },
    ];
    const bytes = encodeClockGroups(groups);
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect(decodeClockGroups(bytes)).toEqual(groups);
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('').toUpperCase();
    expect(bytesFromHex(hex)).toEqual(bytes);
    const seen: unknown[] = [];
    forEachClockGroup(bytesFromHex(hex), (...args) => seen.push(args));
    expect(seen).toEqual([
      ['0123456789abcdef', 4_000_000_000, 5, 1 << 30],
      ['fedcba9876543210', 0, 1, 0],
    ]);
    const out = new Uint8Array(GROUP_BYTES);
    writeClockGroup(out, 0, 'fedcba9876543210', 0, 0, 1);
    expect(out).toEqual(bytes.subarray(GROUP_BYTES));
  });

  it('puts a blob in a union as base64, as before', () => {
    expect(union.resolve(new Uint8Array([0xfb, 0xff, 0x00]), '["a"]')).toBe('["+/8A","a"]');
  });

  it('quarantines an entry with text and blob values, retries it, and applies it once its column exists', () => {
    // Opening is the Node driver's work (better-sqlite3 needs Buffer); quarantining and retrying are the core's.
    globalThis.Buffer = saved;
    const db = openDevice('b');
    (globalThis as { Buffer?: unknown }).Buffer = undefined;
    const blob = new Uint8Array(70_000).map((_, i) => (i * 7) & 0xff);
    const title = 'ğüş 🙂 \uFEFF end';
    const hlc = formatHlc(packHlc(Date.now() - 1000, 0));
    const held = merge(db, [{ table: 'todos', pk: 't1', cl: 1, groups: [{ hlc, device: 'peer-a', values: { title, extra: blob } }] }]);
    expect(held.quarantined).toMatchObject([{ reason: 'unknown-column' }]);
    // Still no column: the retry reads the held entry and holds it again.
    expect(retryQuarantined(db)).toMatchObject({ retried: 1, applied: 0 });
    expect(countQuarantined(db)).toBe(1);
    db.$connection.exec('ALTER TABLE todos ADD COLUMN extra text');
    migrateDatabase(db, { schema: { todos: todosWithExtra } });
    expect(countQuarantined(db)).toBe(0);
    const row = db.$connection.prepare(`SELECT title, extra FROM todos WHERE id = 't1'`).get() as { title: string; extra: Uint8Array };
    expect(row.title).toBe(title);
    expect(new Uint8Array(row.extra)).toEqual(blob);
  });

  it('bounds a text value by its UTF-8 size', () => {
    const entry = (text: string) => ({ table: 't', pk: 'p', cl: 1, groups: [{ hlc: '0000000000000001', device: 'd', values: { c: text } }] });
    const chars = Math.ceil(ENTRY_LIMITS.valueBytes / 3) + 1;
    expect(() => validateEntry(entry('a'.repeat(chars)), 0)).not.toThrow();
    expect(() => validateEntry(entry('€'.repeat(chars)), 0)).toThrow(/larger than/);
  });
});

describe('utf8ByteLength', () => {
  it('counts what TextEncoder writes, lone surrogates included', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)) }), (a, b) => {
        const text = a + b + a;
        expect(utf8ByteLength(text)).toBe(new TextEncoder().encode(text).byteLength);
      }),
    );
  });
});
