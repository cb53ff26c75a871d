/**
 * UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then randomness. Ids sort by creation time,
 * so rows keyed by them cluster at the end of the b-tree and list in a stable order.
 */

/** `n` random bytes from Web Crypto (Node and browsers alike). */
function randomBytes(n: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(n));
}

const RAND_BITS = 74n; // rand_a (12) + rand_b (62)
const RAND_MAX = (1n << RAND_BITS) - 1n;
/** A clock step back larger than this is a reset, not jitter: follow it rather than stay in the future. */
const MAX_BACKSTEP_MS = 10_000;

let lastMs = -1;
let lastRand = 0n;

/**
 * A new UUIDv7 string. Within one process ids are strictly increasing (RFC 9562 §6.2 method 2,
 * with a random increment): two ids made in the same millisecond, or after the wall clock stepped
 * back by up to 10 s, still sort in the order they were made.
 */
export function uuidv7(nowMs: number = Date.now()): string {
  let ms = Math.max(Math.floor(nowMs), 0);
  if (!Number.isFinite(ms) || ms >= 2 ** 48) throw new RangeError(`uuidv7: time ${nowMs} does not fit in 48 bits`);
  let rand: bigint;
  if (ms <= lastMs && ms > lastMs - MAX_BACKSTEP_MS) {
    ms = lastMs;
    // A random step (1..2^32) keeps the next id unguessable from the previous one.
    rand = lastRand + 1n + BigInt(new DataView(randomBytes(4).buffer).getUint32(0));
    if (rand > RAND_MAX) {
      ms += 1;
      rand = freshRandom();
    }
  } else {
    rand = freshRandom();
  }
  lastMs = ms;
  lastRand = rand;
  return format(ms, rand);
}

function freshRandom(): bigint {
  // The top bit stays clear so a burst of same-millisecond ids has room to count upwards.
  return randomBytes(10).reduce((n, byte) => (n << 8n) | BigInt(byte), 0n) & (RAND_MAX >> 1n);
}

function format(ms: number, rand: bigint): string {
  const randA = (rand >> 62n) & 0xfffn;
  const randB = rand & ((1n << 62n) - 1n);
  const hi = (BigInt(ms) << 16n) | (0x7n << 12n) | randA; // 48-bit time, version 7, rand_a
  const lo = (0x2n << 62n) | randB; // variant 10, rand_b
  const hex = hi.toString(16).padStart(16, '0') + lo.toString(16).padStart(16, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
