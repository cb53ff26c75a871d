// The core that runs in the browser's worker (values, the log's clock groups, the export's scan,
// entry validation, resolvers) must not need Node's Buffer: a browser has none.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { bytesFromHex, decodeClockGroups, encodeClockGroups, forEachClockGroup, writeClockGroup, GROUP_BYTES } from '../../src/oplog/clock-groups.ts';
import { ENTRY_LIMITS, validateEntry } from '../../src/oplog/entry.ts';
import { union } from '../../src/schema/resolvers.ts';
import { countQuarantined, merge, migrateDatabase, retryQuarantined } from '../../src/index.ts';
import { formatHlc, packHlc } from '../../src/clock/timestamp.ts';
import { openDevice } from '../helpers/db.ts';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import type { OplogEntry } from '../../src/oplog/entry.ts';
import { base64, fromBase64, utf8ByteLength } from '../../src/sqlite/values.ts';
import { decodeMessage, encodeBatchFrames, encodeMessage, type BatchMessage } from '../../src/sync/protocol/index.ts';
import { truncateUtf8 } from '../../src/sync/protocol/messages.ts';

const GOLDEN_SHA256 = '241db7223eae36a3ce98250f5921802c01c5cabe13f8ce015e96323091a3b359';
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

describe('the sync codec without Node Buffer (as in a browser)', () => {
  const saved = globalThis.Buffer;
  beforeEach(() => {
    (globalThis as { Buffer?: unknown }).Buffer = undefined;
  });
  afterEach(() => {
    globalThis.Buffer = saved;
  });

  const alice = '12D3KooWAlice';
  /** Every value tag, canonical UUID keys and near-misses, ASCII short and long, non-ASCII, a large text split by columns. */
  const entries: OplogEntry[] = [
    { table: 'todos', pk: '0f8e2a4c-1b3d-4e5f-8a9b-0c1d2e3f4a5b', cl: 1, groups: [{ hlc: '0001020304050607', device: alice, values: { title: 'milk', done: 0n, n: -(2n ** 63n), f: -0, g: 0.1, b: new Uint8Array([0, 255, 7]), z: null } }] },
    { table: 'ταμπλό', pk: '0F8E2A4C-1B3D-4E5F-8A9B-0C1D2E3F4A5B', cl: 3, groups: [{ hlc: '0001020304050608', device: 'dé vice ✓', values: { long: 'x'.repeat(300), uni: 'ğüş 🙂 \uFEFF' } }, { hlc: '0001020304050609', device: alice, values: { big: 2n ** 53n + 1n } }] },
    { table: 'todos', pk: 'a-plain-key-that-is-not-a-uuid-at-all', cl: 2, groups: [{ hlc: '000102030405060a', device: alice, values: {} }] },
    { table: 'todos', pk: 'huge', cl: 1, groups: [{ hlc: '000102030405060b', device: alice, values: { a: 'é'.repeat(3000), b: 'ü'.repeat(3000) } }] },
  ];
  const messages = (): Uint8Array[] => [
    encodeMessage({ type: 'hello', major: 1, minor: 2, schemaVersion: 3, deviceId: alice, live: true, window: 1000 }),
    encodeMessage({ type: 'have', cursor: '123456' }),
    ...encodeBatchFrames(entries, { firstBatch: 1, cursor: '123456', remaining: 0, sender: alice }, { targetBytes: 4000, maxFrameBytes: 8192 }).map((f) => f.frame),
    encodeMessage({ type: 'error', code: 'x', message: 'é'.repeat(5000) } as never),
  ];

  it('writes the same bytes as the Buffer-based codec did (a9e694a) and reads them back', () => {
    const frames = messages();
    const all = new Uint8Array(frames.reduce((n, f) => n + f.byteLength, 0));
    frames.reduce((at, f) => (all.set(f, at), at + f.byteLength), 0);
    // SHA-256 of these frames as the codec wrote them with Buffer, before it went without.
    expect(bytesToHex(sha256(all))).toBe(GOLDEN_SHA256);
    const decoded = frames.slice(2, -1).flatMap((f) => (decodeMessage(f, { sender: alice }) as BatchMessage).entries);
    const merged = new Map<string, OplogEntry>();
    for (const e of decoded) {
      const seen = merged.get(e.pk);
      if (seen === undefined) merged.set(e.pk, structuredClone(e));
      else Object.assign(seen.groups[0]!.values, e.groups[0]!.values);
    }
    expect([...merged.values()]).toEqual(entries);
    expect(() => decodeMessage(frames[0]!)).toThrow(/protocol 1\.2 /);
    expect(decodeMessage(frames[1]!)).toEqual({ type: 'have', cursor: '123456' });
    const error = decodeMessage(frames.at(-1)!) as { message: string };
    expect(utf8ByteLength(error.message)).toBeLessThanOrEqual(1024);
    expect(error.message).toMatch(/^é+$/);
  });

  it('cuts a string to a UTF-8 size without splitting a character', () => {
    expect(truncateUtf8('aé🙂b', 4)).toBe('aé');
    expect(truncateUtf8('aé🙂b', 7)).toBe('aé🙂');
    expect(truncateUtf8('plain', 10)).toBe('plain');
  });

  it('writes base64 and base64url as Buffer does, and reads them back', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        const b64 = base64(bytes);
        const url = base64(bytes, { url: true });
        expect(b64).toBe(saved.from(bytes).toString('base64'));
        expect(url).toBe(saved.from(bytes).toString('base64url'));
        expect(fromBase64(b64)).toEqual(bytes);
        expect(fromBase64(url)).toEqual(bytes);
      }),
    );
    expect(() => fromBase64('not base64!')).toThrow();
  });
});
