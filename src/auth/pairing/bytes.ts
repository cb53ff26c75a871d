/**
 * The byte helpers pairing needs, on Web Crypto and plain Uint8Array, so the same code runs in
 * Node and in a browser's worker (no node:crypto, no Buffer).
 */
import { base64, fromBase64 } from '../../sqlite/index.ts';

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** `length` random bytes from the platform's CSPRNG, as base64url without padding. */
export function randomBase64url(length: number): string {
  return base64(crypto.getRandomValues(new Uint8Array(length)), { url: true });
}

/** A uniform random integer in [0, max) from the CSPRNG (rejection sampling: no modulo bias). */
export function randomBelow(max: number): number {
  if (!Number.isSafeInteger(max) || max <= 0 || max > 0x1_0000_0000) throw new RangeError(`max must be an integer in 1..2^32, got ${max}`);
  const limit = 0x1_0000_0000 - (0x1_0000_0000 % max);
  const word = new Uint32Array(1);
  for (;;) {
    crypto.getRandomValues(word);
    if (word[0]! < limit) return word[0]! % max;
  }
}

/** The bytes of unpadded base64url text; undefined when it holds any other character. */
export function decodeBase64url(text: string): Uint8Array | undefined {
  if (!BASE64URL.test(text) || text.length % 4 === 1) return undefined;
  try {
    return fromBase64(text);
  } catch {
    return undefined;
  }
}

/** Whether two byte strings are equal, in time that depends on their length only. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
