/**
 * The entry codec at its edges (written by a fresh-eyes review of the receiver's fast paths):
 * text that begins with U+FEFF crosses the wire as it is (the decoder once dropped it, so the keys
 * '\uFEFFk' and 'k' merged as one row); stamps are exact across the number/BigInt split of the
 * decoder and refused outside 0..2^63-1; a batch the decoder marks as checked gives merge the
 * working copies validateIndexedEntry would.
 */
import { describe, expect, it } from 'vitest';
import type { OplogEntry } from '../../src/index.ts';
import { decodeMessage, encodeBatchFrames } from '../../src/sync/protocol/index.ts';
import { EntryEncoder, isDecodedEntries, readEntries } from '../../src/sync/protocol/entries.ts';
import { WireReader, WireWriter } from '../../src/sync/protocol/wire.ts';
import { checkedGroups, validateIndexedEntry } from '../../src/oplog/entry.ts';

const SENDER = '12D3KooWSender';
const MAX = (1n << 63n) - 1n;
const hex = (v: bigint) => v.toString(16).padStart(16, '0');

function roundTrip(entries: OplogEntry[], cursor = '7'): OplogEntry[] {
  const frames = encodeBatchFrames(entries, { firstBatch: 1, cursor, remaining: 0, sender: SENDER });
  return frames.flatMap((f) => {
    const m = decodeMessage(f.frame, { sender: SENDER });
    if (m.type !== 'batch') throw new Error('not a batch');
    return m.entries;
  });
}

describe('text on the wire', () => {
  it('a leading U+FEFF survives the wire (pk, text value, column name, table, device)', () => {
    const entry: OplogEntry = {
      table: '\uFEFFtodos',
      pk: '\uFEFFk',
      cl: 1,
      groups: [{ hlc: '0000000000000001', device: '\uFEFFdev', values: { title: '\uFEFFhello', '\uFEFFcol': 1n } }],
    };
    // Was decoded as { table: 'todos', pk: 'k', device: 'dev', values: { title: 'hello', col: 1n } }.
    expect(roundTrip([entry])).toEqual([entry]);
  });

  it('two distinct keys, "\\uFEFFk" and "k", stay distinct after the wire', () => {
    const a: OplogEntry = { table: 't', pk: '\uFEFFk', cl: 1, groups: [{ hlc: '0000000000000001', device: 'd', values: { v: 1n } }] };
    const b: OplogEntry = { table: 't', pk: 'k', cl: 1, groups: [{ hlc: '0000000000000002', device: 'd', values: { v: 2n } }] };
    const [da, db] = roundTrip([a, b]);
    expect(da!.pk).not.toBe(db!.pk);
  });
});

describe('stamps and checked batches', () => {
  it('stamps: exact across the 32-bit carry, 2^48 and 2^52 deltas, the rebased first stamp, and refused outside 0..2^63-1', () => {
    const stamps = [0n, 0xffffffffn, 0x100000000n, 0xffffffffn, (1n << 48n) + 0xffffffffn, 1n, (1n << 52n) + 5n, 3n, MAX, 0n, 0x7fffffff00000000n, MAX, (1n << 51n) - 1n];
    const entries = stamps.map((s, i): OplogEntry => ({ table: 't', pk: `k${i}`, cl: 1, groups: [{ hlc: hex(s), device: SENDER, values: {} }] }));
    for (const cursor of ['', '1', String(MAX), String(1n << 62n), String(0xffffffffn)]) {
      expect(roundTrip(entries, cursor).map((e) => e.groups[0]!.hlc)).toEqual(stamps.map(hex));
    }
    const raw = (base: bigint, delta: bigint) => {
      const w = new WireWriter();
      w.u8(0); w.varint(0); w.string('t'); w.string('k'); w.varint(1); w.varint(1); w.zigzag(delta); w.varint(1); w.varint(0);
      return () => readEntries(new WireReader(w.finish()), 1, SENDER, base)[0]!.groups[0]!.hlc;
    };
    for (const [base, delta] of [[MAX, 1n], [MAX - 5n, 1n << 40n], [0n, -1n], [5n, -(1n << 47n)], [MAX, 1n << 60n], [0n, -(1n << 60n)]] as const) {
      expect(raw(base, delta)).toThrow(/hlc out of range/);
    }
    expect(raw(MAX - 0xffffffffn, 0xffffffffn)()).toBe(hex(MAX));
    expect(raw(0x100000000n, -1n)()).toBe(hex(0xffffffffn));
  });

  it('a marked array gives the working copies validateIndexedEntry gives (__proto__ column, limits in characters)', () => {
    const w = new WireWriter();
    const enc = new EntryEncoder(w, SENDER, 0n);
    const e: OplogEntry = { table: 'é'.repeat(256), pk: '😀'.repeat(2048), cl: 1, groups: [
      { hlc: '0000000000000001', device: 'é'.repeat(256), values: JSON.parse('{"__proto__": 1}') as Record<string, never> },
      { hlc: '0000000000000002', device: SENDER, values: { '0': -0, constructor: null } },
    ] };
    enc.write(e);
    const decoded = readEntries(new WireReader(w.finish()), 1, SENDER, 0n);
    expect(isDecodedEntries(decoded)).toBe(true);
    const a = validateIndexedEntry(decoded[0], 0);
    const b = checkedGroups(decoded[0]!, 0);
    expect(b).toEqual(a);
    expect(b.map((g) => Object.keys(g.values))).toEqual(a.map((g) => Object.keys(g.values)));
    expect(Object.is(b[1]!.values['0'], -0)).toBe(true);
  });
});
