import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { RowGroups } from '../../src/merge/row-groups.ts';
import type { Incoming } from '../../src/merge/row-merge.ts';

function entry(pk: string, index: number): Incoming {
  return { table: 't', pk, hlc: '0000000000000001', device: 'd', cl: 1, values: {}, index, mask: 0 };
}

/** The grouping as a plain map would do it: rows in order of first appearance, entries in batch order. */
function expected(pks: readonly string[]): [string, number[]][] {
  const rows = new Map<string, number[]>();
  pks.forEach((pk, i) => (rows.get(pk) ?? rows.set(pk, []).get(pk)!).push(i));
  return [...rows];
}

function grouped(pks: readonly string[]): [string, number[]][] {
  const groups = new RowGroups();
  pks.forEach((pk, i) => groups.add(pk, entry(pk, i)));
  return groups.keys.map((key, i) => [key, groups.groups[i]!.map((e) => e.index)]);
}

describe('RowGroups', () => {
  it('groups ascending keys, side by side or not', () => {
    expect(grouped(['a', 'a', 'b', 'c', 'c'])).toEqual([['a', [0, 1]], ['b', [2]], ['c', [3, 4]]]);
  });

  it('finds an earlier row again once keys stop ascending', () => {
    expect(grouped(['a', 'b', 'c', 'b', 'a', 'd', 'c'])).toEqual([['a', [0, 4]], ['b', [1, 3]], ['c', [2, 6]], ['d', [5]]]);
  });

  it('matches a plain map for any order of keys', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'), { maxLength: 40 }), (pks) => {
        expect(grouped(pks)).toEqual(expected(pks));
      }),
    );
  });
});
