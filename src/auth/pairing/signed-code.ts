/**
 * The signed codes pairing shows as QR codes: a challenge (an authorizing device shows it, a new
 * device dials) and an invitation (a new device shows it, an authorizing device dials). Both carry
 * the showing device's peer id and addresses, a random single-use nonce and an expiry, signed with
 * that device's key; the reader checks the signature against the key inside the peer id before it
 * dials anything, and dials only that peer id. Each kind has its own text prefix and its own
 * signed string, so neither can pass for the other.
 */
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { base64 } from '../../sqlite/index.ts';
import { decodeBase64url, randomBase64url } from './bytes.ts';
import { PairingError } from './errors.ts';

export const PAIRING_LIMITS = {
  /** Longest QR string accepted: well inside a version-40 QR code's 2953 bytes. */
  qrChars: 2048,
  addresses: 8,
  addressChars: 256,
  peerIdChars: 128,
  nonceBytes: 32,
  /** Longest lifetime a challenge may ask for. */
  maxTtlMs: 10 * 60_000,
} as const;

/** What tells the two kinds apart, and how their errors name them. */
export interface SignedCodeKind {
  /** The text's prefix, e.g. `ahenk-pair:1:`. */
  prefix: string;
  /** The first line of the signed string, e.g. `ahenk-pair-challenge`. */
  signedTag: string;
  /** How messages name the code: "pairing code", "invitation". */
  name: string;
  /** How a wrong prefix is described: "pairing code", "pairing invitation". */
  longName: string;
  /** Who shows it, for messages: "authorizer", "invitee". */
  shownBy: string;
}

/** The fields both kinds share; `peer` is the device that shows the code. */
export interface SignedCode {
  peer: string;
  addresses: string[];
  nonce: string;
  expiresAt: number;
  signature: string;
}

export async function createSignedCode(kind: SignedCodeKind, privateKey: PrivateKey, peer: string, addresses: readonly string[], expiresAt: number): Promise<SignedCode> {
  const fields = { peer, addresses: [...addresses].slice(0, PAIRING_LIMITS.addresses), nonce: randomBase64url(PAIRING_LIMITS.nonceBytes), expiresAt };
  const signature = base64(await privateKey.sign(signedBytes(kind, fields)), { url: true });
  return { ...fields, signature };
}

/** The text a QR code carries: the kind's prefix and the fields as base64url JSON. */
export function encodeSignedCode(kind: SignedCodeKind, code: SignedCode): string {
  const json = JSON.stringify([code.peer, code.addresses, code.nonce, code.expiresAt, code.signature]);
  const text = kind.prefix + base64(new TextEncoder().encode(json), { url: true });
  if (text.length > PAIRING_LIMITS.qrChars) throw new PairingError('INVALID_QR', `the ${kind.name} would be ${text.length} characters; at most ${PAIRING_LIMITS.qrChars}`);
  return text;
}

/** Parses and bounds a scanned code of `kind`; throws PairingError INVALID_QR naming what is wrong. */
export function decodeSignedCode(kind: SignedCodeKind, text: unknown): SignedCode {
  if (typeof text !== 'string' || text.length > PAIRING_LIMITS.qrChars) throw invalid(`expected a string of at most ${PAIRING_LIMITS.qrChars} characters`);
  const trimmed = text.trim();
  if (!trimmed.startsWith(kind.prefix)) throw invalid(`not an Ahenk ${kind.longName} (it must start with "${kind.prefix}")`);
  let fields: unknown;
  try {
    const bytes = decodeBase64url(trimmed.slice(kind.prefix.length));
    if (bytes === undefined) throw new Error('not base64url');
    fields = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw invalid(`the ${kind.name} is damaged (not base64url JSON)`);
  }
  if (!Array.isArray(fields) || fields.length !== 5) throw invalid(`the ${kind.name} has the wrong shape`);
  const [peer, addresses, nonce, expiresAt, signature] = fields as unknown[];
  if (typeof peer !== 'string' || peer.length > PAIRING_LIMITS.peerIdChars || !isPeerId(peer)) throw invalid(`the ${kind.shownBy} is not a libp2p peer id`);
  if (!Array.isArray(addresses) || addresses.length === 0 || addresses.length > PAIRING_LIMITS.addresses) throw invalid(`expected 1 to ${PAIRING_LIMITS.addresses} addresses`);
  for (const address of addresses) {
    if (typeof address !== 'string' || address.length === 0 || address.length > PAIRING_LIMITS.addressChars || !address.startsWith('/')) throw invalid('an address is not a multiaddr string');
  }
  if (typeof nonce !== 'string' || nonce.length !== 43 || decodeBase64url(nonce)?.length !== PAIRING_LIMITS.nonceBytes) throw invalid('the nonce must be 32 bytes of base64url');
  if (typeof expiresAt !== 'number' || !Number.isSafeInteger(expiresAt) || expiresAt <= 0) throw invalid('the expiry must be a Unix time in milliseconds');
  if (typeof signature !== 'string' || signature.length > 128) throw invalid('the signature is malformed');
  return { peer, addresses: addresses as string[], nonce, expiresAt, signature };
}

/** Checks the showing device's signature and the expiry; throws PairingError BAD_SIGNATURE or EXPIRED. */
export async function verifySignedCode(kind: SignedCodeKind, code: SignedCode, now: number): Promise<void> {
  const key = peerIdFromString(code.peer).publicKey;
  const signature = decodeBase64url(code.signature);
  if (key === undefined || signature === undefined || !(await key.verify(signedBytes(kind, code), signature))) {
    throw new PairingError('BAD_SIGNATURE', `the ${kind.name} is not signed by the device it names`);
  }
  if (now > code.expiresAt) throw new PairingError('EXPIRED', `the ${kind.name} has expired; show a new one`);
}

function signedBytes(kind: SignedCodeKind, fields: Omit<SignedCode, 'signature'>): Uint8Array {
  return new TextEncoder().encode(`${kind.signedTag}\n1\n${fields.peer}\n${fields.nonce}\n${fields.expiresAt}\n${fields.addresses.join(' ')}`);
}

function isPeerId(text: string): boolean {
  try {
    return peerIdFromString(text).publicKey !== undefined;
  } catch {
    return false;
  }
}

function invalid(why: string): PairingError {
  return new PairingError('INVALID_QR', why);
}
