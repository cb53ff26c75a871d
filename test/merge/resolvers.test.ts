import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkResolver, max, min, union, type Resolver, type SqlValue } from '../../src/index.ts';

const samples: SqlValue[] = [null, 0n, 5n, -3n, 2.5, 7, 'a', 'b', '["x","y"]', new Uint8Array([1]), 2n ** 62n];

describe('resolvers', () => {
  it('the built-ins are joins: commutative, associative, idempotent', () => {
    for (const resolver of [max, min]) expect(checkResolver(resolver, samples), resolver.name).toEqual({ ok: true, violations: [] });
    // union's domain is sets in canonical form (sorted JSON arrays): that is what it produces.
    expect(checkResolver(union, [null, '[]', '["a"]', '["a","b"]', '["b","c"]', '["a",1]'])).toEqual({ ok: true, violations: [] });
  });

  it('checkResolver names the law a bad resolver breaks, with the inputs', () => {
    const remoteWins: Resolver = { name: 'remote-wins', resolve: (_local, remote) => remote };
    const sum: Resolver = { name: 'sum', resolve: (a, b) => (typeof a === 'bigint' && typeof b === 'bigint' ? a + b : a) };
    const remote = checkResolver(remoteWins, [1n, 2n]);
    expect(remote.ok).toBe(false);
    expect(remote.violations).toContainEqual({ law: 'commutative', inputs: [1n, 2n] });
    const summed = checkResolver(sum.resolve, [1n, 2n]);
    expect(summed.violations.map((v) => v.law)).toContain('idempotent');
    expect(summed.violations.map((v) => v.law)).not.toContain('commutative');
  });

  it('max and min follow SQLite order across storage classes; union is a sorted set', () => {
    expect(max.resolve(5n, 'text')).toBe('text');
    expect(max.resolve(2.5, 3n)).toBe(3n);
    expect(min.resolve(null, 4n)).toBe(4n);
    expect(min.resolve(4n, 3.5)).toBe(3.5);
    expect(union.resolve('["b","a"]', '["c","a"]')).toBe('["a","b","c"]');
    expect(union.resolve(null, 'plain')).toBe('["plain"]');
  });

  it('union is a join for any JSON arrays of strings (property)', () => {
    const set = fc.array(fc.string({ maxLength: 3 }), { maxLength: 4 }).map((a) => JSON.stringify(a));
    fc.assert(
      fc.property(set, set, set, (a, b, c) => {
        expect(union.resolve(a, b)).toBe(union.resolve(b, a));
        expect(union.resolve(union.resolve(a, b), c)).toBe(union.resolve(a, union.resolve(b, c)));
        const ab = union.resolve(a, b);
        expect(union.resolve(ab, ab)).toBe(ab);
      }),
    );
  });
});
