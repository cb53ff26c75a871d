/**
 * Both ends of a pairing, without the network: the authorizer checks a request against its
 * challenge and records the new device; the new device records the account and the device list
 * the authorizer sent. Each runs in one transaction.
 */
import { timingSafeEqual } from 'node:crypto';
import { peerIdFromString } from '@libp2p/peer-id';
import { and, eq, ne, or } from 'drizzle-orm';
import { clientOf, type DatabaseHandle } from '../../database/handle.ts';
import { AuthError } from '../../errors.ts';
import { ahenkDevices, ahenkUsers } from '../../schema/system.ts';
import { authDb } from '../db.ts';
import { authorizeDevice, getUserDevices } from '../devices.ts';
import { responseBytes, type PairingChallenge } from './challenge.ts';
import { PairingError } from './errors.ts';
import { PAIRING_VERSION, type PairAccept, type PairRequest } from './messages.ts';

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

/**
 * Checks a request (nonce in constant time, expiry, the new device's signature) and authorizes the
 * device. Throws PairingError UNKNOWN_CHALLENGE, EXPIRED, BAD_PROOF or REFUSED; never authorizes
 * anything when it throws.
 */
export async function answerPairRequest(db: DatabaseHandle, input: AnswerInput): Promise<PairAccept> {
  const { challenge, request, remotePeerId } = input;
  if (input.used || !nonceMatches(challenge, request.nonce)) {
    throw new PairingError('UNKNOWN_CHALLENGE', 'this pairing code is not pending here (used already, or never shown)');
  }
  if (input.now > challenge.expiresAt) throw new PairingError('EXPIRED', 'the pairing code has expired; show a new one');
  const key = peerIdFromString(remotePeerId).publicKey;
  if (key === undefined || !(await key.verify(responseBytes(challenge.authorizer, remotePeerId, request.nonce), Buffer.from(request.proof, 'base64url')))) {
    throw new PairingError('BAD_PROOF', 'the new device did not prove the key it connected with');
  }
  const raw = clientOf(db);
  try {
    return raw.transaction(() => {
      authorizeDevice(db, { userId: input.userId, peerId: challenge.authorizer, deviceType: input.selfDeviceType });
      authorizeDevice(db, { userId: input.userId, peerId: remotePeerId, deviceType: request.deviceType });
      const user = authDb(db).select().from(ahenkUsers).where(eq(ahenkUsers.id, input.userId)).get()!;
      const devices = getUserDevices(db, input.userId).map(({ pushToken: _token, ...device }) => device);
      return { type: 'accept' as const, version: PAIRING_VERSION, user, devices };
    }).immediate();
  } catch (error) {
    if (error instanceof AuthError) throw new PairingError('REFUSED', error.message, { cause: error });
    throw error;
  }
}

/** Whether `nonce` is the challenge's, compared in constant time. */
export function nonceMatches(challenge: PairingChallenge, nonce: string): boolean {
  const presented = Buffer.from(nonce, 'base64url');
  const expected = Buffer.from(challenge.nonce, 'base64url');
  return presented.length === expected.length && timingSafeEqual(presented, expected);
}

/**
 * On the new device: records the account and every device of the list (revocations included, and
 * kept: a revoked device never comes back through a list). Throws PairingError ACCOUNT_CONFLICT
 * when this database holds another account with the same user name or email.
 */
export function recordPairing(db: DatabaseHandle, accept: PairAccept): void {
  const orm = authDb(db);
  clientOf(db)
    .transaction(() => {
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
      }
    })
    .immediate();
}
