import { describe, expect, it } from 'vitest';
import { uuidv7 } from '../../src/auth/ids.ts';

const UUIDV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('uuidv7', () => {
  it('has the v7 layout with the time in the first 48 bits', () => {
    const id = uuidv7(0x0123_4567_89ab);
    expect(id).toMatch(UUIDV7);
    expect(id.slice(0, 13)).toBe('01234567-89ab');
  });

  it('is strictly increasing within a millisecond and when the clock steps back', () => {
    const t = 5_000_000_000_000;
    const ids = [uuidv7(t), uuidv7(t), uuidv7(t - 9_000), uuidv7(t), uuidv7(t + 1)];
    for (const id of ids) expect(id).toMatch(UUIDV7);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    const burst = Array.from({ length: 10_000 }, () => uuidv7());
    expect([...burst].sort()).toEqual(burst);
    expect(new Set(burst).size).toBe(burst.length);
  });

  it('follows the clock after a large step back instead of staying in the future', () => {
    const future = uuidv7(6_000_000_000_000);
    const now = uuidv7(1_700_000_000_000);
    expect(now < future).toBe(true);
    expect(now.slice(0, 13)).toBe(uuidv7(1_700_000_000_000).slice(0, 13));
  });

  it('rejects times that do not fit in 48 bits', () => {
    expect(() => uuidv7(2 ** 48)).toThrow(RangeError);
    expect(() => uuidv7(Number.NaN)).toThrow(RangeError);
  });
});
