/**
 * The pairing invitation a device that is not on the list yet (a web page) shows as a QR code, for
 * a device already on the list to accept: the roles of who shows the code and who dials are
 * swapped, the rest of pairing is the same. It carries the new device's peer id and addresses (a
 * page's are relay circuit addresses), a random single-use nonce and an expiry, signed with the new
 * device's key; the authorizer checks the signature against the key inside the peer id before it
 * dials, and dials only that peer id, so Noise proves it reached the device that showed the code.
 * Other prefix and other signed strings than a challenge's: neither can pass for the other (the
 * codec is shared: signed-code.ts).
 */
import type { PrivateKey } from '@libp2p/interface';
import { createSignedCode, decodeSignedCode, encodeSignedCode, verifySignedCode, type SignedCode, type SignedCodeKind } from './signed-code.ts';

const INVITATION: SignedCodeKind = { prefix: 'ahenk-invite:1:', signedTag: 'ahenk-pair-invitation', name: 'invitation', longName: 'pairing invitation', shownBy: 'invitee' };

export interface PairingInvitation {
  /** PeerId of the device that wants to join (its key signs the invitation and answers over Noise). */
  invitee: string;
  /** Multiaddrs the authorizer dials to reach it. */
  addresses: string[];
  /** 32 random bytes, base64url: what the authorizer must present. */
  nonce: string;
  /** Unix ms after which the invitee refuses the nonce. */
  expiresAt: number;
  /** Ed25519 signature of the fields above, base64url. */
  signature: string;
}

export async function createPairingInvitation(privateKey: PrivateKey, invitee: string, addresses: readonly string[], expiresAt: number): Promise<PairingInvitation> {
  return fromCode(await createSignedCode(INVITATION, privateKey, invitee, addresses, expiresAt));
}

/** The text a QR code carries: a fixed prefix and the invitation as base64url JSON. */
export function encodePairingInvitation(invitation: PairingInvitation): string {
  return encodeSignedCode(INVITATION, toCode(invitation));
}

/** Whether `text` looks like an invitation (not a challenge): which of the two a scanned code is. */
export function isPairingInvitation(text: string): boolean {
  return text.trim().startsWith(INVITATION.prefix);
}

/** Parses and bounds a scanned invitation; throws PairingError INVALID_QR naming what is wrong. */
export function decodePairingInvitation(text: unknown): PairingInvitation {
  return fromCode(decodeSignedCode(INVITATION, text));
}

/** Checks the invitee's signature and the expiry; throws PairingError BAD_SIGNATURE or EXPIRED. */
export function verifyPairingInvitation(invitation: PairingInvitation, now: number = Date.now()): Promise<void> {
  return verifySignedCode(INVITATION, toCode(invitation), now);
}

/**
 * What the authorizer signs when it presents the nonce: both peer ids and the nonce, so the offer
 * fits this invitation and this authorizer only (Noise authenticates the key; this binds the nonce to it).
 */
export function offerBytes(invitee: string, authorizer: string, nonce: string): Uint8Array {
  return new TextEncoder().encode(`ahenk-pair-offer\n1\n${invitee}\n${authorizer}\n${nonce}`);
}

function fromCode({ peer, ...rest }: SignedCode): PairingInvitation {
  return { invitee: peer, ...rest };
}

function toCode({ invitee, ...rest }: PairingInvitation): SignedCode {
  return { peer: invitee, ...rest };
}
