/**
 * The pairing invitation a device that is not on the list yet (a web page) shows as a QR code, for
 * a device already on the list to accept: the roles of who shows the code and who dials are
 * swapped, the rest of pairing is the same. It carries the new device's peer id and addresses (a
 * page's are relay circuit addresses), a random single-use nonce and an expiry, signed with the new
 * device's key; the authorizer checks the signature against the key inside the peer id before it
 * dials, and dials only that peer id, so Noise proves it reached the device that showed the code.
 * Other prefix and other signed strings than a challenge's: neither can pass for the other.
 */
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { base64 } from '../../sqlite/index.ts';
import { decodeBase64url, randomBase64url } from './bytes.ts';
import { PAIRING_LIMITS } from './challenge.ts';
import { PairingError } from './errors.ts';

const INVITATION_PREFIX = 'ahenk-invite:1:';

export interface PairingInvitation {
  /** PeerId of the device that wants to join (its key signs the invitation and answers over Noise). */
  invitee: string;
  /** Multiaddrs the authorizer dials to reach it. */
  addresses: string[];
  /** 32 random bytes, base64url: what the authorizer must present. */
  nonce: string;
  /** Unix ms after which the invitee refuses the nonce. */
  expiresAt: number;
  /** Ed25519 signature of the fields above (invitationBytes), base64url. */
  signature: string;
}

export async function createPairingInvitation(privateKey: PrivateKey, invitee: string, addresses: readonly string[], expiresAt: number): Promise<PairingInvitation> {
  const fields = { invitee, addresses: [...addresses].slice(0, PAIRING_LIMITS.addresses), nonce: randomBase64url(PAIRING_LIMITS.nonceBytes), expiresAt };
  const signature = base64(await privateKey.sign(invitationBytes(fields)), { url: true });
  return { ...fields, signature };
}

/** The text a QR code carries: a fixed prefix and the invitation as base64url JSON. */
export function encodePairingInvitation(invitation: PairingInvitation): string {
  const json = JSON.stringify([invitation.invitee, invitation.addresses, invitation.nonce, invitation.expiresAt, invitation.signature]);
  const text = INVITATION_PREFIX + base64(new TextEncoder().encode(json), { url: true });
  if (text.length > PAIRING_LIMITS.qrChars) throw new PairingError('INVALID_QR', `the invitation would be ${text.length} characters; at most ${PAIRING_LIMITS.qrChars}`);
  return text;
}

/** Whether `text` looks like an invitation (not a challenge): which of the two a scanned code is. */
export function isPairingInvitation(text: string): boolean {
  return text.trim().startsWith(INVITATION_PREFIX);
}

/** Parses and bounds a scanned invitation; throws PairingError INVALID_QR naming what is wrong. */
export function decodePairingInvitation(text: unknown): PairingInvitation {
  if (typeof text !== 'string' || text.length > PAIRING_LIMITS.qrChars) throw invalid(`expected a string of at most ${PAIRING_LIMITS.qrChars} characters`);
  const trimmed = text.trim();
  if (!trimmed.startsWith(INVITATION_PREFIX)) throw invalid(`not an Ahenk pairing invitation (it must start with "${INVITATION_PREFIX}")`);
  let fields: unknown;
  try {
    const bytes = decodeBase64url(trimmed.slice(INVITATION_PREFIX.length));
    if (bytes === undefined) throw new Error('not base64url');
    fields = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw invalid('the invitation is damaged (not base64url JSON)');
  }
  if (!Array.isArray(fields) || fields.length !== 5) throw invalid('the invitation has the wrong shape');
  const [invitee, addresses, nonce, expiresAt, signature] = fields as unknown[];
  if (typeof invitee !== 'string' || invitee.length > PAIRING_LIMITS.peerIdChars || !hasKey(invitee)) throw invalid('the invitee is not a libp2p peer id');
  if (!Array.isArray(addresses) || addresses.length === 0 || addresses.length > PAIRING_LIMITS.addresses) throw invalid(`expected 1 to ${PAIRING_LIMITS.addresses} addresses`);
  for (const address of addresses) {
    if (typeof address !== 'string' || address.length === 0 || address.length > PAIRING_LIMITS.addressChars || !address.startsWith('/')) throw invalid('an address is not a multiaddr string');
  }
  if (typeof nonce !== 'string' || nonce.length !== 43 || decodeBase64url(nonce)?.length !== PAIRING_LIMITS.nonceBytes) throw invalid('the nonce must be 32 bytes of base64url');
  if (typeof expiresAt !== 'number' || !Number.isSafeInteger(expiresAt) || expiresAt <= 0) throw invalid('the expiry must be a Unix time in milliseconds');
  if (typeof signature !== 'string' || signature.length > 128) throw invalid('the signature is malformed');
  return { invitee, addresses: addresses as string[], nonce, expiresAt, signature };
}

/** Checks the invitee's signature and the expiry; throws PairingError BAD_SIGNATURE or EXPIRED. */
export async function verifyPairingInvitation(invitation: PairingInvitation, now: number = Date.now()): Promise<void> {
  const key = peerIdFromString(invitation.invitee).publicKey;
  const signature = decodeBase64url(invitation.signature);
  if (key === undefined || signature === undefined || !(await key.verify(invitationBytes(invitation), signature))) {
    throw new PairingError('BAD_SIGNATURE', 'the invitation is not signed by the device it names');
  }
  if (now > invitation.expiresAt) throw new PairingError('EXPIRED', 'the invitation has expired; show a new one');
}

/**
 * What the authorizer signs when it presents the nonce: both peer ids and the nonce, so the offer
 * fits this invitation and this authorizer only (Noise authenticates the key; this binds the nonce to it).
 */
export function offerBytes(invitee: string, authorizer: string, nonce: string): Uint8Array {
  return new TextEncoder().encode(`ahenk-pair-offer\n1\n${invitee}\n${authorizer}\n${nonce}`);
}

function invitationBytes(fields: Omit<PairingInvitation, 'signature'>): Uint8Array {
  return new TextEncoder().encode(`ahenk-pair-invitation\n1\n${fields.invitee}\n${fields.nonce}\n${fields.expiresAt}\n${fields.addresses.join(' ')}`);
}

function hasKey(text: string): boolean {
  try {
    return peerIdFromString(text).publicKey !== undefined;
  } catch {
    return false;
  }
}

function invalid(why: string): PairingError {
  return new PairingError('INVALID_QR', why);
}
