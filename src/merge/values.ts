/**
 * SQLite values as they travel in oplog entries. Storage classes stay exact: INTEGER is a
 * bigint, REAL a number, TEXT a string, BLOB a Uint8Array (never a Buffer: superjson keeps
 * Uint8Array only), NULL is null.
 */
export type SqlValue = null | bigint | number | string | Uint8Array;

const INT64_MIN = -(2n ** 63n);
const INT64_END = 2n ** 63n;

export function isSqlValue(value: unknown): value is SqlValue {
  if (value === null) return true;
  switch (typeof value) {
    case 'bigint':
      return value >= INT64_MIN && value < INT64_END;
    case 'number':
      return !Number.isNaN(value);
    case 'string':
      return true;
    default:
      return value instanceof Uint8Array;
  }
}

/** better-sqlite3 hands out blobs as Buffers; entries carry plain Uint8Arrays. */
export function fromSqlite(value: unknown): SqlValue {
  if (value instanceof Uint8Array && !(value.constructor === Uint8Array)) return new Uint8Array(value);
  return value as SqlValue;
}

/** SQLite's cross-class order (NULL < numbers < text < blob), then the natural order within. */
export function compareSqlValues(a: SqlValue, b: SqlValue): number {
  const rank = (v: SqlValue) => (v === null ? 0 : typeof v === 'bigint' || typeof v === 'number' ? 1 : typeof v === 'string' ? 2 : 3);
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  if (ra === 0) return 0;
  if (ra === 1) {
    const x = a as number | bigint;
    const y = b as number | bigint;
    if (x < y) return -1;
    if (x > y) return 1;
    // 1n and 1.0 are equal numbers; order INTEGER before REAL so the order stays total.
    return typeof x === typeof y ? 0 : typeof x === 'bigint' ? -1 : 1;
  }
  if (ra === 2) return a! < b! ? -1 : a! > b! ? 1 : 0;
  return Buffer.compare(a as Uint8Array, b as Uint8Array);
}

export function sqlValuesEqual(a: SqlValue, b: SqlValue): boolean {
  return compareSqlValues(a, b) === 0;
}
