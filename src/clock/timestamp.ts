/**
 * An HLC timestamp packed into one signed 64-bit integer: 47 bits of Unix milliseconds (enough
 * until the year 6429) and a 16-bit logical counter. Packed values order exactly as (ms, counter)
 * do, so SQLite can compare and max() them in triggers, and the 16-digit hex string form sorts
 * the same way as text.
 */
export const COUNTER_BITS = 16n;
export const MAX_COUNTER = (1 << Number(COUNTER_BITS)) - 1;
/** Largest representable wall time: 2^47 - 1 ms, in the year 6429. */
export const MAX_MS = 2 ** 47 - 1;
export const MAX_PACKED = (1n << 63n) - 1n;
/**
 * The latest wall time a stamp from a peer may carry and still apply, whatever the drift
 * allowance: the start of the year 6000. Local stamps continue above the highest stamp received,
 * and from here they have 429 years of milliseconds, 65536 stamps each, before the packed form's
 * 63 bits run out; a later stamp is held back as clock drift.
 */
export const MAX_REMOTE_MS = Date.UTC(6000, 0, 1);

export type PackedHlc = bigint;

export function packHlc(ms: number, counter: number): PackedHlc {
  if (!Number.isInteger(ms) || ms < 0 || ms > MAX_MS) throw new RangeError(`HLC milliseconds out of range: ${ms}`);
  if (!Number.isInteger(counter) || counter < 0 || counter > MAX_COUNTER) throw new RangeError(`HLC counter out of range: ${counter}`);
  return (BigInt(ms) << COUNTER_BITS) | BigInt(counter);
}

export function hlcMs(packed: PackedHlc): number {
  return Number(packed >> COUNTER_BITS);
}

export function hlcCounter(packed: PackedHlc): number {
  return Number(packed & BigInt(MAX_COUNTER));
}

/** Fixed-width lower-case hex: text order equals numeric order. */
export function formatHlc(packed: PackedHlc): string {
  if (packed < 0n || packed > MAX_PACKED) throw new RangeError('HLC out of range');
  return packed.toString(16).padStart(16, '0');
}

const HLC_TEXT = /^[0-7][0-9a-f]{15}$/;

export function isHlcString(value: unknown): value is string {
  return typeof value === 'string' && HLC_TEXT.test(value);
}

export function parseHlc(text: string): PackedHlc {
  if (!isHlcString(text)) throw new RangeError(`not an HLC timestamp: ${JSON.stringify(text).slice(0, 40)}`);
  return BigInt(`0x${text}`);
}

/**
 * Half of a stamp's text as a number, without a BigInt: the 32 bits written by its 8 hex digits
 * from `from` (0 or 8), or -1 unless those are 8 lower-case hex digits.
 */
export function hlcHalf(text: string, from: 0 | 8): number {
  let half = 0;
  for (let i = from; i < from + 8; i++) {
    const code = text.charCodeAt(i);
    const digit = code >= 48 && code <= 57 ? code - 48 : code >= 97 && code <= 102 ? code - 87 : -1;
    if (digit < 0) return -1;
    half = half * 16 + digit;
  }
  return half;
}

/** The milliseconds of a valid HLC string, without a BigInt: its first 12 hex digits. */
export function hlcTextMs(text: string): number {
  return parseInt(text.slice(0, 12), 16);
}

/**
 * The same wall time as SQLite computes it inside triggers (no custom function is available to
 * other connections): Unix milliseconds, shifted into the packed layout.
 */
export const SQL_WALL_PACKED = `(CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER) << ${COUNTER_BITS})`;
