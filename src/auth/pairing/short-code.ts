/**
 * The short pairing code a person types (ABCDE-FGHJK) and the confirmation code both screens show.
 * A short code has 50 bits: too few to be the only secret, so it is never sent in the clear nor
 * checkable offline before the other side has committed (docs/decisions.md, "Short pairing codes"):
 *
 * 1. new device -> authorizer: commit = H(authorizer, new device, code, rNew), rNew kept back;
 * 2. authorizer -> new device: rAuth;
 * 3. new device -> authorizer: rNew; the authorizer checks the commit (a wrong code is a failed
 *    attempt, and a few of them end the pairing);
 * 4. authorizer -> new device: proof = HMAC(code, authorizer, new device, rAuth, rNew);
 * 5. both show confirm = 6 digits of H(code, both ids, rAuth, rNew), and each person says whether
 *    the other screen shows the same. Only then does the new device get the full pairing code.
 *
 * The peer ids are the ones Noise authenticated on the connection, so a relay in the middle runs
 * two sessions with different ids and randoms, and its two confirmation codes differ (1 in 10^6).
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { base64 } from '../../sqlite/index.ts';
import { constantTimeEqual, decodeBase64url, randomBase64url, randomBelow } from './bytes.ts';
import { normalizeDeviceType } from '../validate.ts';
import { PairingError } from './errors.ts';

/** Crockford's base32: no I, L, O or U, so nothing reads as another character. */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const SHORT_CODE_LENGTH = 10;
/** Failed short-code attempts (a wrong code, a "no" at the comparison) before the pairing ends. */
export const MAX_SHORT_CODE_ATTEMPTS = 3;
export const SHORT_CODE_RANDOM_BYTES = 32;

/** A new random short code, as shown: ABCDE-FGHJK. */
export function createShortCode(random: (max: number) => number = randomBelow): string {
  let code = '';
  for (let i = 0; i < SHORT_CODE_LENGTH; i += 1) code += ALPHABET[random(ALPHABET.length)];
  return formatShortCode(code);
}

export function formatShortCode(code: string): string {
  return `${code.slice(0, 5)}-${code.slice(5)}`;
}

/** What a person typed, in canonical form (upper case, no separators, I/L read as 1 and O as 0); undefined when it is not a short code. */
export function normalizeShortCode(typed: string): string | undefined {
  if (typed.length > 40) return undefined;
  const code = typed.toUpperCase().replace(/[\s-]/g, '').replace(/[IL]/g, '1').replace(/O/g, '0');
  if (code.length !== SHORT_CODE_LENGTH) return undefined;
  for (const char of code) if (!ALPHABET.includes(char)) return undefined;
  return code;
}

/** 32 fresh random bytes, base64url: each side's contribution to one attempt. */
export function shortCodeRandom(): string {
  return randomBase64url(SHORT_CODE_RANDOM_BYTES);
}

export interface ShortCodeTranscript {
  authorizer: string;
  newDevice: string;
  /** Canonical short code (normalizeShortCode). */
  code: string;
}

export function shortCodeCommit(t: ShortCodeTranscript, newRandom: string): string {
  return base64(hash('ahenk-short-commit', t.authorizer, t.newDevice, t.code, newRandom), { url: true });
}

/** True when `commit` was made with this code: compared in constant time. */
export function commitMatches(t: ShortCodeTranscript, newRandom: string, commit: string): boolean {
  return sameText(shortCodeCommit(t, newRandom), commit);
}

export function shortCodeProof(t: ShortCodeTranscript, authRandom: string, newRandom: string): string {
  const encode = (text: string) => new TextEncoder().encode(text);
  return base64(hmac(sha256, encode(t.code), encode(fields('ahenk-short-proof', t.authorizer, t.newDevice, authRandom, newRandom))), { url: true });
}

export function proofMatches(t: ShortCodeTranscript, authRandom: string, newRandom: string, proof: string): boolean {
  return sameText(shortCodeProof(t, authRandom, newRandom), proof);
}

/** The six digits both screens show, as 123-456. */
export function confirmationCode(t: ShortCodeTranscript, authRandom: string, newRandom: string): string {
  const digest = hash('ahenk-short-confirm', t.authorizer, t.newDevice, t.code, authRandom, newRandom);
  const digits = String(new DataView(digest.buffer, digest.byteOffset, digest.byteLength).getUint32(0) % 1_000_000).padStart(6, '0');
  return `${digits.slice(0, 3)}-${digits.slice(3)}`;
}

/** A base64url random of the right size from the network, or a PairingError PROTOCOL. */
export function checkRandom(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length !== 43 || decodeBase64url(value)?.length !== SHORT_CODE_RANDOM_BYTES) {
    throw new PairingError('PROTOCOL', `${what} must be ${SHORT_CODE_RANDOM_BYTES} bytes of base64url`);
  }
  return value;
}

/** Fields joined with their lengths, so no two different tuples hash alike. */
function fields(...parts: string[]): string {
  return parts.map((p) => `${p.length}:${p}`).join('|');
}

function hash(...parts: string[]): Uint8Array {
  return sha256(new TextEncoder().encode(fields(...parts)));
}

function sameText(a: string, b: string): boolean {
  return constantTimeEqual(new TextEncoder().encode(a), new TextEncoder().encode(b));
}

/** Messages of /ahenk/pair-short/1.0.0, in the order they are sent (docs/protocol.md, "Short pairing codes"). */
export type ShortCodeMessage =
  | { type: 'short-commit'; commit: string }
  | { type: 'short-random'; random: string }
  | { type: 'short-reveal'; random: string; deviceType: string }
  | { type: 'short-proof'; proof: string }
  | { type: 'short-confirmed' }
  | { type: 'short-pairing-code'; code: string }
  | { type: 'reject'; code: string; message: string };

/** Every short-code message is small; the pairing code in the last one is the largest. */
export const MAX_SHORT_CODE_FRAME_BYTES = 4096;
const SHORT_CODE_VERSION = 1;

export function encodeShortCodeMessage(message: ShortCodeMessage): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ ...message, version: SHORT_CODE_VERSION }));
}

/**
 * The next message, which must be of `type`; a reject becomes a PairingError with its code
 * (REFUSED unless it is one this side knows), anything else malformed is PROTOCOL.
 */
export function decodeShortCodeMessage<T extends ShortCodeMessage['type']>(frame: Uint8Array, type: T): Extract<ShortCodeMessage, { type: T }> {
  if (frame.byteLength > MAX_SHORT_CODE_FRAME_BYTES) throw new PairingError('PROTOCOL', 'a short-code message is too large');
  let m: Record<string, unknown>;
  try {
    const value: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(frame));
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object');
    m = value as Record<string, unknown>;
  } catch {
    throw new PairingError('PROTOCOL', 'a short-code message is not a JSON object');
  }
  if (m.version !== SHORT_CODE_VERSION) throw new PairingError('PROTOCOL', 'unsupported short-code protocol version');
  if (m.type === 'reject') {
    // Shown on this terminal: control characters (escape sequences) become spaces.
    const message = typeof m.message === 'string' ? m.message.slice(0, 256).replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ') : 'no reason given';
    const code = m.code === 'TOO_MANY_ATTEMPTS' || m.code === 'BAD_CODE' || m.code === 'EXPIRED' ? m.code : 'REFUSED';
    throw new PairingError(code, `the other device refused: ${message}`);
  }
  if (m.type !== type) throw new PairingError('PROTOCOL', `expected ${type}, got ${typeof m.type === 'string' ? JSON.stringify(m.type.slice(0, 32)) : typeof m.type}`);
  const text = (name: string, max: number): string => {
    const value = m[name];
    if (typeof value !== 'string' || value.length === 0 || value.length > max) throw new PairingError('PROTOCOL', `${type}: ${name} is malformed`);
    return value;
  };
  switch (type) {
    case 'short-commit':
      return { type, commit: text('commit', 64) } as Extract<ShortCodeMessage, { type: T }>;
    case 'short-random':
      return { type, random: checkRandom(m.random, 'random') } as Extract<ShortCodeMessage, { type: T }>;
    case 'short-reveal':
      return { type, random: checkRandom(m.random, 'random'), deviceType: deviceTypeOf(text('deviceType', 256)) } as Extract<ShortCodeMessage, { type: T }>;
    case 'short-proof':
      return { type, proof: text('proof', 64) } as Extract<ShortCodeMessage, { type: T }>;
    case 'short-confirmed':
      return { type } as Extract<ShortCodeMessage, { type: T }>;
    case 'short-pairing-code':
      return { type, code: text('code', 2048) } as Extract<ShortCodeMessage, { type: T }>;
    default:
      throw new PairingError('PROTOCOL', `unexpected short-code message ${type}`);
  }
}

/** The device type shown in the other person's prompt: no control characters (terminal escapes), as on the device list. */
function deviceTypeOf(value: string): string {
  try {
    return normalizeDeviceType(value);
  } catch {
    throw new PairingError('PROTOCOL', 'short-reveal: deviceType is malformed');
  }
}
