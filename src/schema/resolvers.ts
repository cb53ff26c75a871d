/**
 * Column resolvers. A resolver is a join: resolve(local, remote) must be commutative,
 * associative and idempotent, or devices that receive the same writes in different orders end
 * with different values. `checkResolver` tests those laws on sample values.
 */
import { ResolverError } from '../errors.ts';
import { base64, compareSqlValues, sqlValuesEqual, type SqlValue } from '../sqlite/values.ts';

export interface Resolver {
  /** Stored in the database so other processes know which rule a column follows. */
  readonly name: string;
  resolve(local: SqlValue, remote: SqlValue): SqlValue;
}

export type BuiltinResolverName = 'lww' | 'max' | 'min' | 'union';
export type ResolverSpec = BuiltinResolverName | Resolver;

/** Larger value wins (SQLite order: NULL < numbers < text < blob). */
export const max: Resolver = {
  name: 'max',
  resolve: (local, remote) => (compareSqlValues(remote, local) > 0 ? remote : local),
};

/** Smaller non-NULL value wins; NULL means "no value yet". */
export const min: Resolver = {
  name: 'min',
  resolve: (local, remote) => {
    if (local === null) return remote;
    if (remote === null) return local;
    return compareSqlValues(remote, local) < 0 ? remote : local;
  },
};

/**
 * Set union of JSON arrays stored as text. The result is sorted and de-duplicated, so it does not
 * depend on arrival order. A value that is not a JSON array counts as one element; NULL is "no set
 * yet". It is a join on what it produces (sorted JSON arrays and NULL).
 */
export const union: Resolver = {
  name: 'union',
  resolve: (local, remote) => {
    if (local === null && remote === null) return null;
    const items = new Map<string, unknown>();
    for (const value of [local, remote]) {
      for (const item of asSetItems(value)) items.set(JSON.stringify(item), item);
    }
    return JSON.stringify([...items.keys()].sort().map((key) => items.get(key)));
  },
};

function asSetItems(value: SqlValue): unknown[] {
  if (value === null) return [];
  if (typeof value === 'string') {
    try {
      const parsed: unknown = JSON.parse(value);
      if (Array.isArray(parsed)) return parsed;
    } catch {
      // not JSON: the text is a single element
    }
    return [value];
  }
  if (typeof value === 'bigint') return [value.toString()];
  if (value instanceof Uint8Array) return [base64(value)];
  return [value];
}

export const builtinResolvers: Readonly<Record<Exclude<BuiltinResolverName, 'lww'>, Resolver>> = { max, min, union };

export function isResolverSpec(value: unknown): value is ResolverSpec {
  if (value === 'lww' || value === 'max' || value === 'min' || value === 'union') return true;
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Resolver).name === 'string' &&
    typeof (value as Resolver).resolve === 'function'
  );
}

export function resolverName(spec: ResolverSpec): string {
  return typeof spec === 'string' ? spec : spec.name;
}

/** The resolver for a stored name, from the built-ins or the custom ones this process registered. */
export function lookupResolver(name: string, custom: ReadonlyMap<string, Resolver>): Resolver | undefined {
  if (name === 'lww') return undefined;
  // The name comes from the database: only the built-ins' own names count ("constructor" is no resolver).
  const resolver = Object.hasOwn(builtinResolvers, name) ? (builtinResolvers as Record<string, Resolver>)[name] : custom.get(name);
  if (!resolver) {
    throw new ResolverError(
      `column resolver "${name}" is not known to this process; pass the table (with its resolver) in initializeDatabase's schema`,
    );
  }
  return resolver;
}

export interface ResolverLawViolation {
  law: 'commutative' | 'associative' | 'idempotent';
  inputs: SqlValue[];
}

export interface ResolverCheck {
  ok: boolean;
  violations: ResolverLawViolation[];
}

/** Checks the join laws on every pair and triple of samples. */
export function checkResolver(resolver: Resolver | Resolver['resolve'], samples: readonly SqlValue[]): ResolverCheck {
  const f = typeof resolver === 'function' ? resolver : resolver.resolve.bind(resolver);
  const violations: ResolverLawViolation[] = [];
  for (const a of samples) {
    if (!sqlValuesEqual(f(a, a), a)) violations.push({ law: 'idempotent', inputs: [a] });
    for (const b of samples) {
      if (!sqlValuesEqual(f(a, b), f(b, a))) violations.push({ law: 'commutative', inputs: [a, b] });
      for (const c of samples) {
        if (!sqlValuesEqual(f(f(a, b), c), f(a, f(b, c)))) violations.push({ law: 'associative', inputs: [a, b, c] });
      }
    }
  }
  return { ok: violations.length === 0, violations };
}
