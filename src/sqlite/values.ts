/**
 * SQLite values as Ahenk reads, compares and sends them. Storage classes stay exact: INTEGER is a
 * bigint, REAL a number, TEXT a string, BLOB a Uint8Array (never a Buffer: superjson keeps
 * Uint8Array only), NULL is null.
 */
import type { SqlValue } from './port.ts';

export type { SqlValue };

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

/** A driver may hand out blobs as a subclass (better-sqlite3's Buffer); entries carry plain Uint8Arrays. */
export function fromSqlite(value: unknown): SqlValue {
  if (value instanceof Uint8Array && !(value.constructor === Uint8Array)) return new Uint8Array(value);
  return value as SqlValue;
}

/** The length of `text` in UTF-8 bytes (what SQLite stores), counted without encoding it. */
export function utf8ByteLength(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) continue;
    if (code < 0x800) bytes += 1;
    // A surrogate pair is two UTF-16 units and four bytes; a lone surrogate encodes as U+FFFD, three.
    else if (code >= 0xd800 && code < 0xdc00 && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 2;
      i++;
    } else bytes += 2;
  }
  return bytes;
}

/**
 * Base64 of `bytes` as Node's Buffer writes it: standard with padding, or base64url without
 * (`url`). Without Buffer, so it runs in a browser too.
 */
export function base64(bytes: Uint8Array, { url = false }: { url?: boolean } = {}): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  const text = btoa(binary);
  return url ? text.replace(/=+$/, '').replaceAll('+', '-').replaceAll('/', '_') : text;
}

/** The bytes of standard or url-safe base64 (padding optional); throws on any other character. */
export function fromBase64(text: string): Uint8Array {
  const standard = text.replaceAll('-', '+').replaceAll('_', '/');
  const binary = atob(standard.padEnd(Math.ceil(standard.length / 4) * 4, '='));
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
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
  return compareBytes(a as Uint8Array, b as Uint8Array);
}

export function sqlValuesEqual(a: SqlValue, b: SqlValue): boolean {
  return compareSqlValues(a, b) === 0;
}

/** memcmp order, as SQLite compares blobs. */
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/**
 * Sets `record[name] = value` as an own property whatever the name. Names come from data (columns,
 * tables): plain assignment of "__proto__" would replace the prototype instead (and a string
 * value would vanish), so that one name is defined instead of assigned.
 */
export function setOwn<T>(record: Record<string, T>, name: string, value: T): void {
  if (name === '__proto__') Object.defineProperty(record, name, { value, enumerable: true, writable: true, configurable: true });
  else record[name] = value;
}
