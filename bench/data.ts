/**
 * Bench workload: text UUID keys of either kind an app makes (random UUIDv4, what
 * `crypto.randomUUID()` gives; time-ordered UUIDv7, as an app following RFC 9562 makes them) and
 * row values from a seeded generator, so plain and synced tables get exactly the same rows.
 */
import { randomFillSync } from 'node:crypto';

/** A bench row in column order: id, name, qty, rank, price. */
export type BenchRow = [id: string, name: string, qty: number, rank: number, price: number];

/** mulberry32: small, fast and seedable; quality is ample for picking bench values. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * UUIDv7 (RFC 9562): 48-bit Unix ms, then a 12-bit counter seeded at random each new ms (method 1
 * of section 6.2), then 62 random bits. Within one process the keys strictly increase, borrowing
 * the next millisecond when 4096 keys share one.
 */
export function uuidv7Generator(now: () => number = Date.now): () => string {
  let lastMs = -1;
  let counter = 0;
  const pool = Buffer.alloc(16 * 1024);
  let offset = pool.length;
  const bytes = new Uint8Array(16);
  return () => {
    if (offset + 10 > pool.length) {
      randomFillSync(pool);
      offset = 0;
    }
    let ms = now();
    if (ms > lastMs) {
      lastMs = ms;
      // Start low in the counter space so a burst within one ms rarely has to borrow.
      counter = pool[offset]! & 0x7f;
    } else if (counter < 0xfff) {
      counter += 1;
      ms = lastMs;
    } else {
      ms = ++lastMs;
      counter = 0;
    }
    bytes[0] = Math.floor(ms / 2 ** 40) & 0xff;
    bytes[1] = Math.floor(ms / 2 ** 32) & 0xff;
    bytes[2] = (ms >>> 24) & 0xff;
    bytes[3] = (ms >>> 16) & 0xff;
    bytes[4] = (ms >>> 8) & 0xff;
    bytes[5] = ms & 0xff;
    bytes[6] = 0x70 | (counter >>> 8);
    bytes[7] = counter & 0xff;
    bytes[8] = 0x80 | (pool[offset + 1]! & 0x3f);
    for (let i = 9; i < 16; i++) bytes[i] = pool[offset + i - 7]!;
    offset += 9;
    let s = '';
    for (let i = 0; i < 16; i++) {
      if (i === 4 || i === 6 || i === 8 || i === 10) s += '-';
      s += HEX[bytes[i]!]!;
    }
    return s;
  };
}

/**
 * UUIDv4 (RFC 9562 section 5.4): 122 random bits with version and variant set, the layout of
 * `crypto.randomUUID()`, drawn from a seeded generator so a seed gives the same keys every time.
 */
export function uuidv4Generator(random: () => number): () => string {
  const bytes = new Uint8Array(16);
  return () => {
    for (let i = 0; i < 16; i += 4) {
      const word = Math.floor(random() * 2 ** 32);
      bytes[i] = word >>> 24;
      bytes[i + 1] = (word >>> 16) & 0xff;
      bytes[i + 2] = (word >>> 8) & 0xff;
      bytes[i + 3] = word & 0xff;
    }
    bytes[6] = 0x40 | (bytes[6]! & 0x0f);
    bytes[8] = 0x80 | (bytes[8]! & 0x3f);
    let s = '';
    for (let i = 0; i < 16; i++) {
      if (i === 4 || i === 6 || i === 8 || i === 10) s += '-';
      s += HEX[bytes[i]!]!;
    }
    return s;
  };
}

/** Which keys a workload uses: 'v4' random, 'v7' time-ordered (increasing in generation order). */
export type KeyKind = 'v4' | 'v7';
export const KEY_KINDS: readonly KeyKind[] = ['v4', 'v7'];

const WORDS = ['milk', 'bread', 'tea', 'invoice', 'call', 'review', 'garden', 'ticket', 'plan', 'note', 'draft', 'order'];

/**
 * n rows in generation order: with 'v7' keys that is key order, with 'v4' keys a random one. The
 * values depend only on the seed, so both key kinds of one seed hold the same values.
 */
export function makeRows(n: number, seed: number, keys: KeyKind = 'v7'): BenchRow[] {
  const random = seededRandom(seed);
  const nextId = keys === 'v7' ? uuidv7Generator() : uuidv4Generator(seededRandom(~seed));
  const rows: BenchRow[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const name = `${WORDS[Math.floor(random() * WORDS.length)]} ${WORDS[Math.floor(random() * WORDS.length)]} #${i}`;
    const price = Math.round(random() * 100_000) / 100;
    rows[i] = [nextId(), name, Math.floor(random() * 1000), i, price];
  }
  return rows;
}

/** The indices 0..n-1 in a seeded random order: updates and deletes touch rows all over the table. */
export function shuffledIndices(n: number, seed: number): Uint32Array {
  const random = seededRandom(seed);
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return order;
}
