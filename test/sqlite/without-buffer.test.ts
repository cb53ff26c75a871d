// The core that runs in the browser's worker (values, the log's clock groups, the export's scan,
// entry validation, resolvers) must not need Node's Buffer: a browser has none.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { bytesFromHex, decodeClockGroups, encodeClockGroups, forEachClockGroup, writeClockGroup, GROUP_BYTES } from '../../src/oplog/clock-groups.ts';
import { ENTRY_LIMITS, validateEntry } from '../../src/oplog/entry.ts';
import { union } from '../../src/schema/resolvers.ts';
import { utf8ByteLength } from '../../src/sqlite/values.ts';

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
