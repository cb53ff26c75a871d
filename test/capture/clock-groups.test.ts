import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeClockGroups, encodeClockGroups, forEachClockGroup, GROUP_BYTES, writeClockGroup, type ClockGroup } from '../../src/oplog/clock-groups.ts';
import { formatHlc, MAX_PACKED } from '../../src/clock/timestamp.ts';

const group = fc.record({
  hlc: fc.bigInt({ min: 0n, max: MAX_PACKED }).map(formatHlc),
  site: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  mask: fc.bigInt({ min: 0n, max: 2n ** 62n - 1n }),
});

describe('oplog clock groups', () => {
  it('round-trip any stamp, site and 62-bit mask', () => {
    fc.assert(
      fc.property(fc.array(group, { maxLength: 8 }), (groups: ClockGroup[]) => {
        const bytes = encodeClockGroups(groups);
        expect(bytes.length).toBe(groups.length * GROUP_BYTES);
        expect(decodeClockGroups(bytes)).toEqual(groups);
      }),
    );
  });

  it('writeClockGroup with a number mask writes what encodeClockGroups writes', () => {
    fc.assert(
      fc.property(group, fc.integer({ min: 0, max: 2 ** 31 - 1 }), ({ hlc, site }, mask) => {
        const out = new Uint8Array(GROUP_BYTES);
        writeClockGroup(out, 0, hlc, site, 0, mask);
        expect(out).toEqual(encodeClockGroups([{ hlc, site, mask: BigInt(mask) }]));
      }),
    );
  });

  it("the export's view splits the mask into two 31-bit halves", () => {
    const mask = (1n << 61n) | (1n << 31n) | (1n << 30n) | 1n;
    const seen: unknown[] = [];
    forEachClockGroup(encodeClockGroups([{ hlc: '7fffffffffffffff', site: 3, mask }]), (...args) => seen.push(args));
    expect(seen).toEqual([['7fffffffffffffff', 3, (1 << 30) | 1, (1 << 30) | 1]]);
  });

  it('a blob that is not whole groups is reported as corrupt', () => {
    expect(() => decodeClockGroups(Buffer.alloc(GROUP_BYTES + 1))).toThrow(/corrupt/);
  });
});
