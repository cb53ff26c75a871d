/**
 * This device's identity: an Ed25519 key made on first open and kept in ahenk_meta. Its libp2p
 * PeerId string is the device id that stamps every local write, so the key a peer proves over
 * Noise and the id in the oplog are the same thing.
 *
 * In a browser the key is not in the database: the worker holds it as a non-extractable CryptoKey
 * (src/browser/device-key.ts) and hands it to the connection (`holdIdentity`) before
 * initializeDatabase; ahenk_meta then keeps only the device id.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { ConnectionSlot, connectionOf, type DatabaseHandle, type SqliteConnection } from '../sqlite/index.ts';
import { privateKeyFromRaw } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import type { PrivateKey } from '@libp2p/interface';
import { DatabaseError, DeviceKeyError } from '../errors.ts';
import { moveLocalSite } from '../oplog/sites.ts';

const KEY = 'device_private_key';
const ID = 'device_id';

export interface DeviceIdentity {
  deviceId: string;
  privateKey: PrivateKey;
}

/** A key kept outside the database for this connection (a browser's CryptoKey), if any. */
const HELD_KEY = new ConnectionSlot<{ identity: DeviceIdentity | undefined }>('the device key held outside the database');

/**
 * Gives this connection the device key kept outside the database (call before initializeDatabase):
 * the identity is then this key, and ahenk_meta holds only its device id.
 */
export function holdIdentity(raw: SqliteConnection, identity: DeviceIdentity): void {
  raw.slot(HELD_KEY, () => ({ identity: undefined })).identity = identity;
}

function heldIdentity(raw: SqliteConnection): DeviceIdentity | undefined {
  return raw.slot(HELD_KEY, () => ({ identity: undefined })).identity;
}

/** Creates the identity if this database has none; call inside a write transaction. */
export function ensureIdentity(raw: SqliteConnection): DeviceIdentity {
  const stored = readIdentity(raw);
  if (stored) return stored;
  const held = heldIdentity(raw);
  if (held !== undefined) {
    raw.prepare('INSERT INTO ahenk_meta (key, value) VALUES (?, ?)').run(ID, held.deviceId);
    raw.prepare('INSERT INTO ahenk_sites (id, device) VALUES (0, ?)').run(held.deviceId);
    return held;
  }
  const { rawKey, identity } = newKey();
  const put = raw.prepare('INSERT INTO ahenk_meta (key, value) VALUES (?, ?)');
  put.run(KEY, toBase64(rawKey));
  put.run(ID, identity.deviceId);
  raw.prepare('INSERT INTO ahenk_sites (id, device) VALUES (0, ?)').run(identity.deviceId);
  return identity;
}

export interface ResetIdentityResult {
  previousDeviceId: string;
  deviceId: string;
}

/**
 * Gives this database a new device key, for a device that was revoked (or whose key leaked): the
 * owner can then pair it again. Data and log stay; the entries the old key wrote keep their author
 * and stamps and reach the user's devices once the new key is paired (each peer sees a new device
 * and sends it, and is sent, what the other lacks). Forgets the revocation notice and how far
 * peers held the log (they knew the old key). One transaction; no node may run on the database.
 */
export function resetIdentity(db: DatabaseHandle): ResetIdentityResult {
  const raw = connectionOf(db);
  if (heldIdentity(raw) !== undefined) {
    // The new key would have to be made (asynchronously) in the browser's key store first.
    throw new DeviceKeyError('DEVICE_KEY_RESET_UNSUPPORTED', 'resetIdentity: this database keeps its device key in the browser (a non-extractable CryptoKey); it cannot be replaced from here');
  }
  return raw.transaction(() => {
    const previousDeviceId = getDeviceId(raw);
    const { rawKey, identity } = newKey();
    const put = raw.prepare('UPDATE ahenk_meta SET value = ? WHERE key = ?');
    put.run(toBase64(rawKey), KEY);
    put.run(identity.deviceId, ID);
    moveLocalSite(raw, identity.deviceId);
    raw.prepare('DELETE FROM ahenk_meta WHERE key = ?').run(REVOKED);
    raw.prepare('UPDATE ahenk_cursors SET acked = NULL').run();
    return { previousDeviceId, deviceId: identity.deviceId };
  });
}

/**
 * A new key: libp2p's raw Ed25519 private key, the 32-byte seed then the public key. Synchronous
 * and without node:crypto, so that a browser's worker makes its identity the same way.
 */
function newKey(): { rawKey: Uint8Array; identity: DeviceIdentity } {
  const seed = globalThis.crypto.getRandomValues(new Uint8Array(32));
  const rawKey = new Uint8Array(64);
  rawKey.set(seed);
  rawKey.set(ed25519.getPublicKey(seed), 32);
  const key = privateKeyFromRaw(rawKey);
  return { rawKey, identity: { deviceId: peerIdFromPrivateKey(key).toString(), privateKey: key } };
}

/**
 * This database's identity, or undefined before its first open. A device id whose key is neither
 * in ahenk_meta nor held for the connection is an error, never a reason to make a new key: a new
 * key cannot sign for the old device id.
 */
export function readIdentity(raw: SqliteConnection): DeviceIdentity | undefined {
  const get = raw.prepare('SELECT value FROM ahenk_meta WHERE key = ?');
  const deviceId = get.value(ID) as string | undefined;
  const held = heldIdentity(raw);
  if (held !== undefined) {
    if (deviceId === undefined) return undefined;
    if (held.deviceId !== deviceId) throw new DatabaseError('ahenk_meta: device id does not match the stored key');
    return held;
  }
  const key = get.value(KEY) as string | undefined;
  if (deviceId === undefined) return undefined;
  if (key === undefined) {
    throw new DeviceKeyError('DEVICE_KEY_MISSING', `this database's device key (device ${deviceId}) is not in it: it is kept in the browser that made it`);
  }
  const privateKey = privateKeyFromRaw(fromBase64(key));
  if (peerIdFromPrivateKey(privateKey).toString() !== deviceId) throw new DatabaseError('ahenk_meta: device id does not match the stored key');
  return { deviceId, privateKey };
}

/** The device id of an initialized database. */
export function getDeviceId(db: DatabaseHandle): string {
  const raw = connectionOf(db);
  const id = raw.prepare('SELECT value FROM ahenk_meta WHERE key = ?').value(ID) as string | undefined;
  if (id === undefined) throw new DatabaseError('this database has no device identity; open it with initializeDatabase');
  return id;
}

const REVOKED = 'revoked_notice';

/** An authorised peer told this device that its key is revoked: who, and when (Unix ms). */
export interface RevocationNotice {
  /** The peer that said so (on this device's list when it did). */
  by: string;
  at: number;
}

/**
 * Remembers that an authorised peer refused this device as revoked, for this identity only: a new
 * identity (resetIdentity) is not revoked. Keeps the first notice.
 */
export function recordRevocationNotice(raw: SqliteConnection, notice: RevocationNotice): void {
  const deviceId = getDeviceId(raw);
  raw.withStorageErrors('recording a revocation notice', () => raw.prepare('INSERT OR IGNORE INTO ahenk_meta (key, value) VALUES (?, ?)').run(REVOKED, JSON.stringify({ deviceId, by: notice.by, at: notice.at })));
}

/** The notice recorded for the current identity, if any. */
export function readRevocationNotice(db: DatabaseHandle): RevocationNotice | undefined {
  const raw = connectionOf(db);
  const text = raw.prepare('SELECT value FROM ahenk_meta WHERE key = ?').value(REVOKED) as string | undefined;
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text) as { deviceId?: unknown; by?: unknown; at?: unknown };
    if (value.deviceId !== getDeviceId(raw) || typeof value.by !== 'string' || typeof value.at !== 'number') return undefined;
    return { by: value.by, at: value.at };
  } catch {
    return undefined;
  }
}

function toBase64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}
