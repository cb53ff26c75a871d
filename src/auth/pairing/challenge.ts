/**
 * The pairing challenge an authorizing device shows as a QR code: its peer id and addresses, a
 * random single-use nonce and an expiry, signed with its device key. The new device checks the
 * signature against the key inside the peer id, so a QR code altered on its way (other addresses,
 * a later expiry) is refused before anything is dialled; the nonce is what the new device must
 * present over a Noise connection to that same peer id.
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

/** A challenge lives two minutes by default: time to scan it, not time to photograph and replay it. */
export const DEFAULT_PAIRING_TTL_MS = 120_000;

const QR_PREFIX = 'ahenk-pair:1:';

export interface PairingChallenge {
  /** PeerId of the authorizing device (its key signs the challenge and answers over Noise). */
  authorizer: string;
  /** Multiaddrs the new device dials to reach it. */
  addresses: string[];
  /** 32 random bytes, base64url. */
  nonce: string;
  /** Unix ms after which the authorizer refuses the nonce. */
  expiresAt: number;
  /** Ed25519 signature of the fields above (challengeBytes), base64url. */
  signature: string;
}

export async function createPairingChallenge(privateKey: PrivateKey, authorizer: string, addresses: readonly string[], expiresAt: number): Promise<PairingChallenge> {
  const fields = { authorizer, addresses: [...addresses].slice(0, PAIRING_LIMITS.addresses), nonce: randomBase64url(PAIRING_LIMITS.nonceBytes), expiresAt };
  const signature = base64(await privateKey.sign(challengeBytes(fields)), { url: true });
  return { ...fields, signature };
}

/** The text a QR code carries: a fixed prefix and the challenge as base64url JSON. */
export function encodePairingQr(challenge: PairingChallenge): string {
  const text = QR_PREFIX + base64(new TextEncoder().encode(JSON.stringify([challenge.authorizer, challenge.addresses, challenge.nonce, challenge.expiresAt, challenge.signature])), { url: true });
  if (text.length > PAIRING_LIMITS.qrChars) throw new PairingError('INVALID_QR', `the pairing QR text would be ${text.length} characters; at most ${PAIRING_LIMITS.qrChars}`);
  return text;
}

/** Parses and bounds a scanned QR text; throws PairingError INVALID_QR naming what is wrong. */
export function decodePairingQr(text: unknown): PairingChallenge {
  if (typeof text !== 'string' || text.length > PAIRING_LIMITS.qrChars) throw invalid(`expected a string of at most ${PAIRING_LIMITS.qrChars} characters`);
  const trimmed = text.trim();
  if (!trimmed.startsWith(QR_PREFIX)) throw invalid('not an Ahenk pairing code (it must start with "ahenk-pair:1:")');
  let fields: unknown;
  try {
    const bytes = decodeBase64url(trimmed.slice(QR_PREFIX.length));
    if (bytes === undefined) throw new Error('not base64url');
    fields = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw invalid('the pairing code is damaged (not base64url JSON)');
  }
  if (!Array.isArray(fields) || fields.length !== 5) throw invalid('the pairing code has the wrong shape');
  const [authorizer, addresses, nonce, expiresAt, signature] = fields as unknown[];
  if (typeof authorizer !== 'string' || authorizer.length > PAIRING_LIMITS.peerIdChars || !isPeerId(authorizer)) throw invalid('the authorizer is not a libp2p peer id');
  if (!Array.isArray(addresses) || addresses.length === 0 || addresses.length > PAIRING_LIMITS.addresses) throw invalid(`expected 1 to ${PAIRING_LIMITS.addresses} addresses`);
  for (const address of addresses) {
    if (typeof address !== 'string' || address.length === 0 || address.length > PAIRING_LIMITS.addressChars || !address.startsWith('/')) throw invalid('an address is not a multiaddr string');
  }
  if (typeof nonce !== 'string' || decodeBase64url(nonce)?.length !== PAIRING_LIMITS.nonceBytes || nonce.length !== 43) throw invalid('the nonce must be 32 bytes of base64url');
  if (typeof expiresAt !== 'number' || !Number.isSafeInteger(expiresAt) || expiresAt <= 0) throw invalid('the expiry must be a Unix time in milliseconds');
  if (typeof signature !== 'string' || signature.length > 128) throw invalid('the signature is malformed');
  return { authorizer, addresses: addresses as string[], nonce, expiresAt, signature };
}

/** Checks the authorizer's signature and the expiry; throws PairingError BAD_SIGNATURE or EXPIRED. */
export async function verifyPairingChallenge(challenge: PairingChallenge, now: number = Date.now()): Promise<void> {
  const key = peerIdFromString(challenge.authorizer).publicKey;
  const signature = decodeBase64url(challenge.signature);
  if (key === undefined || signature === undefined || !(await key.verify(challengeBytes(challenge), signature))) {
    throw new PairingError('BAD_SIGNATURE', 'the pairing code is not signed by the device it names');
  }
  if (now > challenge.expiresAt) throw new PairingError('EXPIRED', 'the pairing code has expired; show a new one');
}

/** What the new device signs: both peer ids and the nonce, so the proof fits this pairing only. */
export function responseBytes(authorizer: string, newDevice: string, nonce: string): Uint8Array {
  return new TextEncoder().encode(`ahenk-pair-response\n1\n${authorizer}\n${newDevice}\n${nonce}`);
}

function challengeBytes(fields: Omit<PairingChallenge, 'signature'>): Uint8Array {
  return new TextEncoder().encode(`ahenk-pair-challenge\n1\n${fields.authorizer}\n${fields.nonce}\n${fields.expiresAt}\n${fields.addresses.join(' ')}`);
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
