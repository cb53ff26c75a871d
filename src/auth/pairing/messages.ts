/**
 * Messages of /ahenk/pair/1.0.0, as JSON in length-prefixed frames (docs/protocol.md, "Pairing").
 * The new device sends one request; the authorizer answers with one accept or reject. Everything
 * read from the network is bounded and checked field by field before use.
 */
import { canonicalPeerId } from '../devices.ts';
import { AUTH_LIMITS, normalizeDeviceType, normalizeEmail, normalizeUserName } from '../validate.ts';
import { PairingError, type PairingErrorCode } from './errors.ts';

export const PAIRING_VERSION = 1;
/** Largest pairing frame: an account and MAX_PAIRED_DEVICES long device records fit. */
export const MAX_PAIRING_FRAME_BYTES = 1024 * 1024;
/** Devices an accept may list (revoked ones included); a longer list is refused before sending. */
export const MAX_PAIRED_DEVICES = 1024;

export interface PairRequest {
  type: 'request';
  version: number;
  nonce: string;
  deviceType: string;
  /** The new device's signature of responseBytes(authorizer, itself, nonce), base64url. */
  proof: string;
}

/** The account the devices belong to, as the authorizer holds it (password as its Argon2id hash). */
export interface PairedUser {
  id: string;
  userName: string;
  email: string;
  passwordHash: string;
  createdAt: number;
}

/** A device on the user's list (push tokens stay on the device that registered them). */
export interface PairedDeviceRecord {
  id: string;
  userId: string;
  deviceType: string;
  peerId: string | null;
  createdAt: number;
  revokedAt: number | null;
}

export interface PairAccept {
  type: 'accept';
  version: number;
  user: PairedUser;
  devices: PairedDeviceRecord[];
}

/** The new device recorded the accept; only now does the authorizer put it on the list. */
export interface PairConfirm {
  type: 'confirm';
  version: number;
}

/** The authorizer put the new device on the list: pairing is complete on both sides. */
export interface PairDone {
  type: 'done';
  version: number;
}

export interface PairReject {
  type: 'reject';
  version: number;
  code: PairingErrorCode;
  message: string;
}

/**
 * /ahenk/pair-invite/1.0.0 only: the authorizer, having dialled the device whose invitation it
 * scanned, presents the invitation's nonce, signed (offerBytes) with the key Noise authenticated.
 */
export interface PairOffer {
  type: 'offer';
  version: number;
  nonce: string;
  proof: string;
}

export function encodePairingMessage(message: PairOffer | PairRequest | PairAccept | PairConfirm | PairDone | PairReject): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(message));
}

export function decodePairRequest(frame: Uint8Array): PairRequest {
  const m = parse(frame);
  if (m.type !== 'request') throw protocol(`expected a pairing request, got ${describe(m.type)}`);
  if (typeof m.nonce !== 'string' || m.nonce.length !== 43) throw protocol('the nonce must be 43 base64url characters');
  if (typeof m.proof !== 'string' || m.proof.length === 0 || m.proof.length > 128) throw protocol('the proof is malformed');
  if (typeof m.deviceType !== 'string' || m.deviceType.length > AUTH_LIMITS.deviceType * 4) throw protocol('the device type is malformed');
  return { type: 'request', version: m.version as number, nonce: m.nonce, deviceType: m.deviceType, proof: m.proof };
}

export function decodePairOffer(frame: Uint8Array): PairOffer {
  const m = parse(frame);
  if (m.type !== 'offer') throw protocol(`expected a pairing offer, got ${describe(m.type)}`);
  if (typeof m.nonce !== 'string' || m.nonce.length !== 43) throw protocol('the nonce must be 43 base64url characters');
  if (typeof m.proof !== 'string' || m.proof.length === 0 || m.proof.length > 128) throw protocol('the proof is malformed');
  return { type: 'offer', version: m.version as number, nonce: m.nonce, proof: m.proof };
}

/** The invited device's answer to an offer: its request, or a PairingError carrying its reject's code and message. */
export function decodeInvitedRequest(frame: Uint8Array): PairRequest {
  rejectOr(parse(frame), 'the invited device');
  return decodePairRequest(frame);
}

/** The invited device's confirmation, or a PairingError carrying its reject's code and message. */
export function decodeInvitedConfirm(frame: Uint8Array): PairConfirm {
  rejectOr(parse(frame), 'the invited device');
  return decodePairConfirm(frame);
}

export function decodePairConfirm(frame: Uint8Array): PairConfirm {
  const m = parse(frame);
  if (m.type !== 'confirm') throw protocol(`expected the new device's confirmation, got ${describe(m.type)}`);
  return { type: 'confirm', version: m.version as number };
}

/** The authorizer's last word: done, or a PairingError carrying the reject's code and message. */
export function decodePairDone(frame: Uint8Array): PairDone {
  const m = rejectOr(parse(frame));
  if (m.type !== 'done') throw protocol(`expected done or reject, got ${describe(m.type)}`);
  return { type: 'done', version: m.version as number };
}

/** The authorizer's answer: an accept, or a PairingError carrying the reject's code and message. */
export function decodePairAnswer(frame: Uint8Array): PairAccept {
  const m = rejectOr(parse(frame));
  if (m.type !== 'accept') throw protocol(`expected accept or reject, got ${describe(m.type)}`);
  const user = pairedUser(m.user);
  if (!Array.isArray(m.devices) || m.devices.length > MAX_PAIRED_DEVICES) throw protocol(`devices must be a list of at most ${MAX_PAIRED_DEVICES}`);
  const devices = m.devices.map((d) => pairedDevice(d, user.id));
  return { type: 'accept', version: m.version as number, user, devices };
}

const REJECT_CODES: ReadonlySet<PairingErrorCode> = new Set(['EXPIRED', 'UNKNOWN_CHALLENGE', 'BAD_PROOF', 'REFUSED', 'PROTOCOL']);

function rejectOr(m: Record<string, unknown>, who = 'the authorizing device'): Record<string, unknown> {
  if (m.type !== 'reject') return m;
  const message = typeof m.message === 'string' ? m.message.slice(0, 256) : 'no reason given';
  throw new PairingError(REJECT_CODES.has(m.code as PairingErrorCode) ? (m.code as PairingErrorCode) : 'REFUSED', `${who} refused: ${message}`);
}

function parse(frame: Uint8Array): Record<string, unknown> {
  if (frame.byteLength > MAX_PAIRING_FRAME_BYTES) throw protocol(`a pairing message of ${frame.byteLength} bytes is over the ${MAX_PAIRING_FRAME_BYTES}-byte limit`);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(frame));
  } catch {
    throw protocol('a pairing message is not UTF-8 JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw protocol('a pairing message must be a JSON object');
  const m = value as Record<string, unknown>;
  // Minor versions add fields; a different major version is refused.
  if (m.version !== PAIRING_VERSION) throw protocol(`pairing version ${describe(m.version)} is not supported (this device speaks ${PAIRING_VERSION})`);
  return m;
}

function pairedUser(value: unknown): PairedUser {
  if (typeof value !== 'object' || value === null) throw protocol('the account is missing');
  const u = value as Record<string, unknown>;
  const id = recordId(u.id, 'account id');
  const passwordHash = u.passwordHash;
  if (typeof passwordHash !== 'string' || !passwordHash.startsWith('$argon2id$') || passwordHash.length > 512) throw protocol('the account password hash is not an Argon2id PHC string');
  return { id, userName: checked(() => normalizeUserName(u.userName as string)), email: checked(() => normalizeEmail(u.email as string)), passwordHash, createdAt: time(u.createdAt, 'account createdAt') };
}

function pairedDevice(value: unknown, userId: string): PairedDeviceRecord {
  if (typeof value !== 'object' || value === null) throw protocol('a device record is not an object');
  const d = value as Record<string, unknown>;
  if (d.userId !== userId) throw protocol('a device record belongs to another account');
  const peerId = d.peerId === null ? null : canonicalPeerId(d.peerId);
  if (peerId === undefined) throw protocol('a device peer id is not a libp2p peer id');
  return {
    id: recordId(d.id, 'device id'),
    userId,
    deviceType: checked(() => normalizeDeviceType(d.deviceType as string)),
    peerId,
    createdAt: time(d.createdAt, 'device createdAt'),
    revokedAt: d.revokedAt === null ? null : time(d.revokedAt, 'device revokedAt'),
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function recordId(value: unknown, what: string): string {
  if (typeof value !== 'string' || !UUID.test(value)) throw protocol(`the ${what} is not a UUID`);
  return value;
}

function time(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw protocol(`${what} is not a Unix time in milliseconds`);
  return value;
}

/** Runs an auth normaliser on network input; its AuthError becomes a protocol error. */
function checked<T>(normalise: () => T): T {
  try {
    return normalise();
  } catch (error) {
    throw protocol(`an account or device field is invalid: ${(error as Error).message}`);
  }
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value.slice(0, 32)) : typeof value;
}

function protocol(why: string): PairingError {
  return new PairingError('PROTOCOL', why);
}
