import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClockDriftError, compareHlc, formatHlc, HybridLogicalClock, parseHlc } from '../../src/index.ts';
import { hlcCounter, hlcMs, MAX_COUNTER, MAX_MS, packHlc } from '../../src/clock/index.ts';

function fakeWall(start: number) {
  let t = start;
  return { now: () => t, set: (ms: number) => (t = ms) };
}

describe('HybridLogicalClock', () => {
  it('stays monotonic when the wall clock jumps backwards and forwards', () => {
    const wall = fakeWall(1_700_000_000_000);
    const clock = new HybridLogicalClock({ now: wall.now });
    const stamps = [clock.now()];
    for (const t of [1_700_000_000_500, 1_600_000_000_000, 1_600_000_000_000, 1_700_000_001_000, 1_500_000_000_000]) {
      wall.set(t);
      stamps.push(clock.now());
    }
    for (let i = 1; i < stamps.length; i++) expect(stamps[i]! > stamps[i - 1]!).toBe(true);
    // After the jump back, time is carried by the counter, not lost.
    expect(hlcMs(stamps[2]!)).toBe(1_700_000_000_500);
    expect(hlcCounter(stamps[2]!)).toBe(1);
    // Once the wall clock passes the last stamp, the counter resets.
    expect(stamps[4]).toBe(packHlc(1_700_000_001_000, 0));
  });

  it('is monotonic for any sequence of wall times and receives (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.record({ wall: fc.integer({ min: 0, max: 2 ** 40 }) }), fc.record({ remote: fc.bigInt({ min: 0n, max: 2n ** 56n }) })), { maxLength: 50 }),
        (steps) => {
          let wall = 0;
          const clock = new HybridLogicalClock({ now: () => wall, maxDriftMs: Number.MAX_SAFE_INTEGER });
          let last = -1n;
          for (const step of steps) {
            let next: bigint;
            if ('wall' in step) {
              wall = step.wall;
              next = clock.now();
            } else {
              next = clock.receive(step.remote);
              expect(next > step.remote).toBe(true);
            }
            expect(next > last).toBe(true);
            last = next;
          }
        },
      ),
    );
  });

  it('receive moves past a remote stamp that is ahead but within the drift bound', () => {
    const wall = fakeWall(1_700_000_000_000);
    const clock = new HybridLogicalClock({ now: wall.now });
    const remote = packHlc(1_700_000_060_000, 7);
    const merged = clock.receive(formatHlc(remote));
    expect(merged).toBe(remote + 1n);
    expect(clock.now() > merged).toBe(true);
  });

  it('rejects a remote stamp beyond maxDrift and leaves the clock unchanged', () => {
    const wall = fakeWall(1_700_000_000_000);
    const clock = new HybridLogicalClock({ now: wall.now });
    const before = clock.now();
    const remote = packHlc(1_700_000_000_000 + 5 * 60 * 1000 + 1, 0);
    let error: unknown;
    try {
      clock.receive(remote);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ClockDriftError);
    expect((error as ClockDriftError).code).toBe('CLOCK_DRIFT');
    expect(clock.current).toBe(before);
    // Exactly at the bound is accepted; the bound is configurable.
    expect(() => clock.receive(packHlc(1_700_000_000_000 + 5 * 60 * 1000, 0))).not.toThrow();
    const strict = new HybridLogicalClock({ now: wall.now, maxDriftMs: 1000 });
    expect(() => strict.receive(packHlc(1_700_000_002_000, 0))).toThrow(ClockDriftError);
  });

  it('carries a counter overflow into the milliseconds instead of failing', () => {
    const clock = new HybridLogicalClock({ now: () => 1000, last: packHlc(1000, MAX_COUNTER - 1) });
    expect(clock.now()).toBe(packHlc(1000, MAX_COUNTER));
    const next = clock.now();
    expect(hlcMs(next)).toBe(1001);
    expect(hlcCounter(next)).toBe(0);
  });

  it('has a string form that sorts like the timestamps, up to and past the year 6000', () => {
    const year6000 = Date.UTC(6000, 0, 1);
    expect(year6000).toBeLessThan(MAX_MS);
    const samples = [packHlc(0, 0), packHlc(1, 0), packHlc(1_700_000_000_000, 65535), packHlc(1_700_000_000_001, 0), packHlc(year6000, 3), packHlc(MAX_MS, MAX_COUNTER)];
    const texts = samples.map(formatHlc);
    expect([...texts].sort()).toEqual(texts);
    for (const [i, text] of texts.entries()) expect(parseHlc(text)).toBe(samples[i]);
    expect(compareHlc(texts[1]!, texts[2]!)).toBe(-1);
    expect(compareHlc(samples[2]!, texts[2]!)).toBe(0);
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }), fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }), (a, b) => {
        expect(formatHlc(a) < formatHlc(b)).toBe(a < b);
      }),
    );
  });

  it('refuses values it cannot represent', () => {
    expect(() => packHlc(MAX_MS + 1, 0)).toThrow(RangeError);
    expect(() => packHlc(0, MAX_COUNTER + 1)).toThrow(RangeError);
    expect(() => parseHlc('zz')).toThrow(RangeError);
    expect(() => parseHlc('8000000000000000')).toThrow(RangeError);
    const broken = new HybridLogicalClock({ now: () => Number.NaN });
    expect(() => broken.now()).toThrow(RangeError);
  });
});
