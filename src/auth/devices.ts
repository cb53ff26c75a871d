/**
 * The device list: which devices belong to a user, and which libp2p keys may sync. A device
 * added by the app (addDeviceToUser) has no peer id and never authorizes anything; a device
 * recorded by pairing (authorizeDevice) carries the peer id it proved, until it is revoked.
 */
import { peerIdFromString } from '@libp2p/peer-id';
import { and, asc, eq, isNull } from 'drizzle-orm';
import { connectionOf, type DatabaseHandle } from '../sqlite/index.ts';
import { AuthError } from '../errors.ts';
import { ahenkDevices, ahenkRevocations, ahenkUsers } from '../schema/system.ts';
import { requireUser } from './accounts.ts';
import { authDb } from './db.ts';
import { uuidv7 } from './ids.ts';
import { AUTH_LIMITS, normalizeDeviceType, normalizePushToken, requireString } from './validate.ts';

export interface Device {
  /** UUIDv7. */
  id: string;
  userId: string;
  /** Trimmed label such as 'phone' or 'laptop'. */
  deviceType: string;
  pushToken: string | null;
  /** The libp2p PeerId string this device proved at pairing; null for a device the app added. */
  peerId: string | null;
  /** Unix milliseconds. */
  createdAt: number;
  /** Unix milliseconds; a revoked device stays listed but is never authorized again. */
  revokedAt: number | null;
}

export interface AuthorizeDeviceInput {
  userId: string;
  /** A libp2p PeerId string (base58btc or CID form); stored in its canonical form. */
  peerId: string;
  deviceType: string;
}

/**
 * Adds a device to a user's list. Throws AuthError 'Device type cannot be empty'
 * (DEVICE_TYPE_EMPTY) for a blank type and 'User not found' (USER_NOT_FOUND) for an unknown user.
 */
export async function addDeviceToUser(db: DatabaseHandle, userId: string, deviceType: string, pushToken?: string | null): Promise<Device> {
  const type = normalizeDeviceType(deviceType);
  const token = normalizePushToken(pushToken);
  requireUser(db, userId);
  return insertDevice(db, { userId, deviceType: type, pushToken: token, peerId: null });
}

/** Every device of a user, revoked ones included, oldest first; 'User not found' for an unknown user. */
export function getUserDevices(db: DatabaseHandle, userId: string): Device[] {
  requireUser(db, userId);
  // UUIDv7 ids break createdAt ties in creation order, the same on every device.
  return authDb(db).select().from(ahenkDevices).where(eq(ahenkDevices.userId, userId)).orderBy(asc(ahenkDevices.createdAt), asc(ahenkDevices.id)).all();
}

/**
 * Records a device that proved the key behind `peerId` (pairing calls this). Idempotent for a
 * peer already authorized for the same user. A revoked peer id stays revoked: a revoked device
 * pairs again with a new key. Throws INVALID_INPUT for a malformed peer id, PEER_ID_TAKEN or PEER_ID_REVOKED for a peer id that
 * belongs to another user or was revoked; DEVICE_TYPE_EMPTY; USER_NOT_FOUND.
 */
export function authorizeDevice(db: DatabaseHandle, input: AuthorizeDeviceInput): Device {
  if (typeof input !== 'object' || input === null) throw new AuthError('INVALID_INPUT', 'authorizeDevice expects { userId, peerId, deviceType }');
  const peerId = canonicalPeerId(input.peerId);
  if (peerId === undefined) throw new AuthError('INVALID_INPUT', 'Peer id is not a valid libp2p peer id');
  const type = normalizeDeviceType(input.deviceType);
  const user = requireUser(db, input.userId);
  const orm = authDb(db);
  const raw = connectionOf(db);
  return raw.withStorageErrors('authorizing a device', () => raw
    .transaction(() => {
      // The list is synced, so one key may have several records (two devices recorded it): a
      // revoked one wins, then another user's, then any record of this user.
      const records = orm.select().from(ahenkDevices).where(eq(ahenkDevices.peerId, peerId)).orderBy(asc(ahenkDevices.createdAt), asc(ahenkDevices.id)).all();
      if (isRevokedPeer(db, peerId)) throw new AuthError('PEER_ID_REVOKED', 'Peer id was revoked; pair again with a new key');
      const revoked = records.find((d) => d.revokedAt !== null);
      if (revoked !== undefined) return alreadyKnown(revoked, user.id);
      const other = records.find((d) => d.userId !== user.id);
      if (other !== undefined) return alreadyKnown(other, user.id);
      return records[0] ?? insertDevice(db, { userId: user.id, deviceType: type, pushToken: null, peerId });
    }));
}

/**
 * Marks a device revoked (idempotent: a second revoke keeps the first time) and records its key in
 * ahenk_revocations, which no later edit of the device list can undo. Its peer id stops being
 * authorized at once, here and on every device the revocation syncs to; live sessions are the sync
 * layer's to close. Throws DEVICE_NOT_FOUND 'Device not found' for an unknown id.
 */
export function revokeDevice(db: DatabaseHandle, deviceId: string, now: number = Date.now()): Device {
  const id = requireString(deviceId, 'Device id');
  const orm = authDb(db);
  const raw = connectionOf(db);
  return raw.withStorageErrors('revoking a device', () => raw
    .transaction(() => {
      orm.update(ahenkDevices).set({ revokedAt: now }).where(and(eq(ahenkDevices.id, id), isNull(ahenkDevices.revokedAt))).run();
      const device = orm.select().from(ahenkDevices).where(eq(ahenkDevices.id, id)).get();
      if (device === undefined) throw new AuthError('DEVICE_NOT_FOUND', 'Device not found');
      if (device.peerId !== null) orm.insert(ahenkRevocations).values({ peerId: device.peerId, revokedAt: device.revokedAt ?? now }).onConflictDoNothing().run();
      return device;
    }));
}

/** Whether the key was ever revoked, by any device (ahenk_revocations, or a revoked record of it). */
export function isRevokedPeer(db: DatabaseHandle, peerId: string): boolean {
  return authDb(db).select({ peerId: ahenkRevocations.peerId }).from(ahenkRevocations).where(eq(ahenkRevocations.peerId, peerId)).get() !== undefined;
}

/** Whether `peerId` is another device on this database's list (not `selfId`, this device itself): who may sync with it. */
export function isOtherAuthorizedPeer(db: DatabaseHandle, selfId: string, peerId: string): boolean {
  return peerId !== selfId && isAuthorizedPeer(db, peerId);
}

/** True only for a well-formed peer id on the device list and not revoked. Never throws for bad input. */
export function isAuthorizedPeer(db: DatabaseHandle, peerId: string): boolean {
  const canonical = canonicalPeerId(peerId);
  if (canonical === undefined) return false;
  if (isRevokedPeer(db, canonical)) return false;
  // Any revoked record of the key locks it out, whatever other records say; and the key must be
  // listed under an account this database holds (a record under an unknown user id, which no
  // getUserDevices would show, authorizes nothing).
  const records = authDb(db)
    .select({ revokedAt: ahenkDevices.revokedAt, user: ahenkUsers.id })
    .from(ahenkDevices)
    .leftJoin(ahenkUsers, eq(ahenkUsers.id, ahenkDevices.userId))
    .where(eq(ahenkDevices.peerId, canonical))
    .all();
  return records.every((r) => r.revokedAt === null) && records.some((r) => r.user !== null);
}

/** The base58btc form libp2p prints, or undefined when the string is not a peer id. */
export function canonicalPeerId(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > AUTH_LIMITS.peerId) return undefined;
  try {
    return peerIdFromString(value).toString();
  } catch {
    return undefined;
  }
}

function alreadyKnown(device: Device, userId: string): Device {
  if (device.userId !== userId) throw new AuthError('PEER_ID_TAKEN', 'Peer id is already registered to another user');
  if (device.revokedAt !== null) throw new AuthError('PEER_ID_REVOKED', 'Peer id was revoked; pair again with a new key');
  return device;
}

function insertDevice(db: DatabaseHandle, fields: Pick<Device, 'userId' | 'deviceType' | 'pushToken' | 'peerId'>): Device {
  const device: Device = { id: uuidv7(), ...fields, createdAt: Date.now(), revokedAt: null };
  authDb(db).insert(ahenkDevices).values(device).run();
  return device;
}
