/**
 * Both ends of a pairing, without the network: the authorizer checks a request against its
 * challenge and plans its answer (planPairing), and lists the new device once it has confirmed
 * (commitPairing); the new device records the account and the device list the authorizer sent
 * (recordPairing). Writes run in one transaction each.
 */
import { peerIdFromString } from '@libp2p/peer-id';
import { and, eq, ne, or } from 'drizzle-orm';
import { connectionOf, type DatabaseHandle } from '../../sqlite/index.ts';
import { ahenkDevices, ahenkRevocations, ahenkUsers } from '../../schema/system.ts';
import { withoutCapture } from '../../oplog/guard.ts';
import { authDb } from '../db.ts';
import { getUserDevices, isRevokedPeer } from '../devices.ts';
import { uuidv7 } from '../ids.ts';
import { normalizeDeviceType } from '../validate.ts';
import { constantTimeEqual, decodeBase64url } from './bytes.ts';
import { responseBytes, type PairingChallenge } from './challenge.ts';
import { PairingError } from './errors.ts';
import { MAX_PAIRED_DEVICES, PAIRING_VERSION, type PairAccept, type PairedDeviceRecord, type PairRequest } from './messages.ts';

export interface AnswerInput {
  challenge: PairingChallenge;
  /** Whether this challenge's nonce was presented before (single use). */
  used: boolean;
  request: PairRequest;
  /** The peer id Noise authenticated for the stream the request came on. */
  remotePeerId: string;
  userId: string;
  /** How the authorizer lists itself on the device list the first time it pairs. */
  selfDeviceType: string;
  now: number;
}

/** What the authorizer will send, and the device records it adds once the new device confirms. */
export interface PairingPlan {
  accept: PairAccept;
  /** Records of keys not on the list yet (the new device, and the authorizer the first time). */
  additions: PairedDeviceRecord[];
  /** The new device as it will be listed. */
  device: { peerId: string; deviceType: string };
}

/**
 * Checks a request (nonce in constant time, expiry, the new device's signature, that neither key
 * is revoked or another user's) and plans the accept. Writes nothing: the device goes on the list
 * only in commitPairing, once the new device has confirmed it recorded the accept. Throws
 * PairingError UNKNOWN_CHALLENGE, EXPIRED, BAD_PROOF, PROTOCOL or REFUSED.
 */
export async function planPairing(db: DatabaseHandle, input: AnswerInput): Promise<PairingPlan> {
  const { challenge, request, remotePeerId, userId } = input;
  if (input.used || !nonceMatches(challenge, request.nonce)) {
    throw new PairingError('UNKNOWN_CHALLENGE', 'this pairing code is not pending here (used already, or never shown)');
  }
  if (input.now > challenge.expiresAt) throw new PairingError('EXPIRED', 'the pairing code has expired; show a new one');
  const key = peerIdFromString(remotePeerId).publicKey;
  const proof = decodeBase64url(request.proof);
  if (key === undefined || proof === undefined || !(await key.verify(responseBytes(challenge.authorizer, remotePeerId, request.nonce), proof))) {
    throw new PairingError('BAD_PROOF', 'the new device did not prove the key it connected with');
  }
  let deviceType: string;
  try {
    deviceType = normalizeDeviceType(request.deviceType);
  } catch (error) {
    throw new PairingError('PROTOCOL', `the device type is not valid: ${(error as Error).message}`, { cause: error });
  }
  const user = authDb(db).select().from(ahenkUsers).where(eq(ahenkUsers.id, userId)).get();
  if (user === undefined) throw new PairingError('REFUSED', 'the account to pair with is gone from this device');
  const additions: PairedDeviceRecord[] = [];
  for (const [peerId, type] of [[challenge.authorizer, input.selfDeviceType], [remotePeerId, deviceType]] as const) {
    if (!listedFor(db, peerId, userId)) additions.push({ id: uuidv7(), userId, deviceType: type, peerId, createdAt: input.now, revokedAt: null });
  }
  const devices = [...getUserDevices(db, userId).map(({ pushToken: _token, ...device }) => device), ...additions];
  if (devices.length > MAX_PAIRED_DEVICES) {
    throw new PairingError('REFUSED', `the account lists ${devices.length} devices, more than the ${MAX_PAIRED_DEVICES} a pairing can carry; remove old devices first`);
  }
  return { accept: { type: 'accept', version: PAIRING_VERSION, user, devices }, additions, device: { peerId: remotePeerId, deviceType } };
}

/**
 * Puts the planned devices on the list, in one transaction, checking again that no revocation or
 * other user's record of their keys arrived meanwhile (PairingError REFUSED).
 */
export function commitPairing(db: DatabaseHandle, plan: PairingPlan): void {
  const orm = authDb(db);
  const raw = connectionOf(db);
  raw.withStorageErrors('recording a paired device', () => raw
    .transaction(() => {
      for (const record of plan.additions) {
        if (!listedFor(db, record.peerId!, record.userId)) orm.insert(ahenkDevices).values({ ...record, pushToken: null }).run();
      }
    }));
}

/**
 * Whether the key already has a live record for this user. Throws REFUSED when a record of it is
 * revoked or belongs to another user: such a key never pairs.
 */
function listedFor(db: DatabaseHandle, peerId: string, userId: string): boolean {
  const records = authDb(db).select().from(ahenkDevices).where(eq(ahenkDevices.peerId, peerId)).all();
  if (isRevokedPeer(db, peerId) || records.some((r) => r.revokedAt !== null)) throw new PairingError('REFUSED', `device ${peerId} was revoked; it must pair again with a new key`);
  if (records.some((r) => r.userId !== userId)) throw new PairingError('REFUSED', `device ${peerId} belongs to another account`);
  return records.length > 0;
}

/**
 * An account this database holds other than `userId` (any account when omitted), or undefined.
 * A device that shows an invitation must hold none but the one it joins: joined to a second
 * account, its other account's devices would be authorized here and sync all of this database.
 */
export function otherAccount(db: DatabaseHandle, userId?: string): { id: string; userName: string } | undefined {
  const query = authDb(db).select({ id: ahenkUsers.id, userName: ahenkUsers.userName }).from(ahenkUsers);
  return (userId === undefined ? query : query.where(ne(ahenkUsers.id, userId))).limit(1).get();
}

/** Whether `nonce` is the challenge's (or an invitation's), compared in constant time. */
export function nonceMatches(challenge: Pick<PairingChallenge, 'nonce'>, nonce: string): boolean {
  const presented = decodeBase64url(nonce);
  const expected = decodeBase64url(challenge.nonce);
  return presented !== undefined && expected !== undefined && constantTimeEqual(presented, expected);
}

/**
 * On the new device: records the account and every device of the list (revocations included, and
 * kept: a revoked device never comes back through a list). Throws PairingError ACCOUNT_CONFLICT
 * when this database holds another account with the same user name or email.
 *
 * The device list is a synced table, but these rows are the authorizer's, not writes of this
 * device: they are stored without capture, so they carry no stamp here and the authorizer's own
 * log entries for them (push tokens included) win when the two first sync.
 */
export function recordPairing(db: DatabaseHandle, accept: PairAccept): void {
  const orm = authDb(db);
  const raw = connectionOf(db);
  raw.withStorageErrors('recording the account and device list of a pairing', () => raw
    .transaction(() => withoutCapture(raw, () => {
      const { user } = accept;
      const clash = orm
        .select({ id: ahenkUsers.id })
        .from(ahenkUsers)
        .where(and(ne(ahenkUsers.id, user.id), or(eq(ahenkUsers.userName, user.userName), eq(ahenkUsers.email, user.email))))
        .get();
      if (clash !== undefined) throw new PairingError('ACCOUNT_CONFLICT', `this device already has another account named "${user.userName}" or with ${user.email}`);
      orm.insert(ahenkUsers).values(user).onConflictDoNothing({ target: ahenkUsers.id }).run();
      for (const device of accept.devices) {
        const known = orm
          .select()
          .from(ahenkDevices)
          .where(device.peerId === null ? eq(ahenkDevices.id, device.id) : or(eq(ahenkDevices.id, device.id), eq(ahenkDevices.peerId, device.peerId)))
          .get();
        if (known === undefined) {
          orm.insert(ahenkDevices).values({ ...device, pushToken: null }).run();
        } else if (device.revokedAt !== null && known.revokedAt === null && known.userId === device.userId) {
          orm.update(ahenkDevices).set({ revokedAt: device.revokedAt }).where(eq(ahenkDevices.id, known.id)).run();
        }
        // Locked out here at once; the authorizer's own revocation entries follow with the first sync.
        if (device.revokedAt !== null && device.peerId !== null) orm.insert(ahenkRevocations).values({ peerId: device.peerId, revokedAt: device.revokedAt }).onConflictDoNothing().run();
      }
    })));
}
