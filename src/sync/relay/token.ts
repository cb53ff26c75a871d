/**
 * The relay's join token: a secret a device presents once (`/ahenk/relay-admit/1.0.0`) to be
 * admitted, and the limiter that bounds wrong guesses. The token is 160 random bits in lower-case
 * base32 (32 characters, no padding): typeable, and far beyond any number of guesses the limiter
 * lets through.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { JOIN_TOKEN_BYTES, JOIN_TOKEN_LENGTH } from './constants.ts';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

export function generateJoinToken(random: (size: number) => Uint8Array = randomBytes): string {
  const bytes = random(JOIN_TOKEN_BYTES);
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}

/** The shape of a token (length and alphabet), checked before any comparison. */
export function isJoinTokenShaped(text: string): boolean {
  return text.length === JOIN_TOKEN_LENGTH && /^[a-z2-7]+$/.test(text);
}

/**
 * Compares in constant time: both sides are hashed first, so neither the length nor the first
 * differing character of a guess shows in the time the comparison takes.
 */
export function joinTokensEqual(presented: string, expected: string): boolean {
  const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();
  return timingSafeEqual(digest(presented), digest(expected));
}

export interface AttemptLimits {
  /** Failed attempts allowed from one address within the window. */
  perAddress: number;
  /** Failed attempts allowed from everyone together within the window. */
  total: number;
  windowMs: number;
}

/**
 * Counts failed token attempts per remote address and in all, over a sliding window. A peer id
 * costs nothing to make, so the address and the total are what bound a guesser. Addresses tracked
 * are bounded: the oldest is forgotten first (its failures still count in the total).
 */
export class AttemptLimiter {
  readonly #limits: AttemptLimits;
  readonly #now: () => number;
  readonly #byAddress = new Map<string, number[]>();
  #all: number[] = [];

  constructor(limits: AttemptLimits, now: () => number = Date.now) {
    this.#limits = limits;
    this.#now = now;
  }

  /** Whether an attempt from `address` may be checked now. */
  allowed(address: string): boolean {
    const since = this.#now() - this.#limits.windowMs;
    this.#all = this.#all.filter((t) => t > since);
    const mine = (this.#byAddress.get(address) ?? []).filter((t) => t > since);
    if (mine.length === 0) this.#byAddress.delete(address);
    else this.#byAddress.set(address, mine);
    return this.#all.length < this.#limits.total && mine.length < this.#limits.perAddress;
  }

  failed(address: string): void {
    const now = this.#now();
    this.#all.push(now);
    const mine = this.#byAddress.get(address) ?? [];
    this.#byAddress.delete(address);
    this.#byAddress.set(address, [...mine, now]);
    if (this.#byAddress.size > MAX_TRACKED_ADDRESSES) {
      const oldest = this.#byAddress.keys().next().value;
      if (oldest !== undefined) this.#byAddress.delete(oldest);
    }
  }
}

/** Addresses whose failures are remembered; beyond this the total still bounds the guessing. */
const MAX_TRACKED_ADDRESSES = 1024;
