/** The join token's form and comparison, and the attempt limiter with an injected clock. */
import { describe, expect, it } from 'vitest';
import { AttemptLimiter, generateJoinToken, isJoinTokenShaped, joinTokensEqual } from '../../src/sync/relay/token.ts';

describe('join token', () => {
  it('is 32 base32 characters from 160 random bits, and compares exactly', () => {
    const zeros = generateJoinToken((n) => new Uint8Array(n));
    expect(zeros).toBe('a'.repeat(32));
    const ones = generateJoinToken((n) => new Uint8Array(n).fill(255));
    expect(ones).toBe('7'.repeat(32));
    const token = generateJoinToken();
    expect(isJoinTokenShaped(token)).toBe(true);
    expect(isJoinTokenShaped(token.toUpperCase())).toBe(false);
    expect(isJoinTokenShaped(`${token}a`)).toBe(false);
    expect(isJoinTokenShaped(token.slice(1) + '1')).toBe(false);
    expect(joinTokensEqual(token, token)).toBe(true);
    expect(joinTokensEqual(token, `${token.slice(0, 31)}${token.endsWith('a') ? 'b' : 'a'}`)).toBe(false);
    expect(joinTokensEqual(token, token.slice(0, 31))).toBe(false);
  });

  it('limits failures per address and in all within a window, and forgets them after it', () => {
    let now = 0;
    const limiter = new AttemptLimiter({ perAddress: 2, total: 3, windowMs: 1000 }, () => now);
    expect(limiter.allowed('10.0.0.1')).toBe(true);
    limiter.failed('10.0.0.1');
    limiter.failed('10.0.0.1');
    expect(limiter.allowed('10.0.0.1')).toBe(false);
    expect(limiter.allowed('10.0.0.2')).toBe(true);
    limiter.failed('10.0.0.2');
    // Three failures in all: every address waits.
    expect(limiter.allowed('10.0.0.3')).toBe(false);
    now = 1001;
    expect(limiter.allowed('10.0.0.1')).toBe(true);
    expect(limiter.allowed('10.0.0.3')).toBe(true);
  });
});
