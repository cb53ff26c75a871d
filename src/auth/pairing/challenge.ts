/**
 * The pairing challenge an authorizing device shows as a QR code: its peer id and addresses, a
 * random single-use nonce and an expiry, signed with its device key. The new device checks the
 * signature against the key inside the peer id, so a QR code altered on its way (other addresses,
 * a later expiry) is refused before anything is dialled; the nonce is what the new device must
 * present over a Noise connection to that same peer id. The codec is shared with invitations
 * (signed-code.ts).
 */
import type { PrivateKey } from '@libp2p/interface';
import { createSignedCode, decodeSignedCode, encodeSignedCode, verifySignedCode, type SignedCode, type SignedCodeKind } from './signed-code.ts';

export { PAIRING_LIMITS } from './signed-code.ts';

/** A challenge lives two minutes by default: time to scan it, not time to photograph and replay it. */
export const DEFAULT_PAIRING_TTL_MS = 120_000;

const CHALLENGE: SignedCodeKind = { prefix: 'ahenk-pair:1:', signedTag: 'ahenk-pair-challenge', name: 'pairing code', longName: 'pairing code', shownBy: 'authorizer' };

export interface PairingChallenge {
  /** PeerId of the authorizing device (its key signs the challenge and answers over Noise). */
  authorizer: string;
  /** Multiaddrs the new device dials to reach it. */
  addresses: string[];
  /** 32 random bytes, base64url. */
  nonce: string;
  /** Unix ms after which the authorizer refuses the nonce. */
  expiresAt: number;
  /** Ed25519 signature of the fields above, base64url. */
  signature: string;
}

export async function createPairingChallenge(privateKey: PrivateKey, authorizer: string, addresses: readonly string[], expiresAt: number): Promise<PairingChallenge> {
  return fromCode(await createSignedCode(CHALLENGE, privateKey, authorizer, addresses, expiresAt));
}

/** The text a QR code carries: a fixed prefix and the challenge as base64url JSON. */
export function encodePairingQr(challenge: PairingChallenge): string {
  return encodeSignedCode(CHALLENGE, toCode(challenge));
}

/** Parses and bounds a scanned QR text; throws PairingError INVALID_QR naming what is wrong. */
export function decodePairingQr(text: unknown): PairingChallenge {
  return fromCode(decodeSignedCode(CHALLENGE, text));
}

/** Checks the authorizer's signature and the expiry; throws PairingError BAD_SIGNATURE or EXPIRED. */
export function verifyPairingChallenge(challenge: PairingChallenge, now: number = Date.now()): Promise<void> {
  return verifySignedCode(CHALLENGE, toCode(challenge), now);
}

/** What the new device signs: both peer ids and the nonce, so the proof fits this pairing only. */
export function responseBytes(authorizer: string, newDevice: string, nonce: string): Uint8Array {
  return new TextEncoder().encode(`ahenk-pair-response\n1\n${authorizer}\n${newDevice}\n${nonce}`);
}

function fromCode({ peer, ...rest }: SignedCode): PairingChallenge {
  return { authorizer: peer, ...rest };
}

function toCode({ authorizer, ...rest }: PairingChallenge): SignedCode {
  return { peer: authorizer, ...rest };
}
