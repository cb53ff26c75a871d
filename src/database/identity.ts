/**
 * This device's identity: an Ed25519 key made on first open and kept in ahenk_meta. Its libp2p
 * PeerId string is the device id that stamps every local write, so the key a peer proves over
 * Noise and the id in the oplog are the same thing.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { connectionOf, type DatabaseHandle, type SqliteConnection } from '../sqlite/index.ts';
import { privateKeyFromRaw } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import type { PrivateKey } from '@libp2p/interface';
import { DatabaseError } from '../errors.ts';

const KEY = 'device_private_key';
const ID = 'device_id';

export interface DeviceIdentity {
  deviceId: string;
  privateKey: PrivateKey;
}

/** Creates the identity if this database has none; call inside a write transaction. */
export function ensureIdentity(raw: SqliteConnection): DeviceIdentity {
  const stored = readIdentity(raw);
  if (stored) return stored;
  // libp2p's raw Ed25519 private key: the 32-byte seed, then the public key. Synchronous and
  // without node:crypto, so that a browser's worker makes its identity the same way.
  const seed = globalThis.crypto.getRandomValues(new Uint8Array(32));
  const rawKey = new Uint8Array(64);
  rawKey.set(seed);
  rawKey.set(ed25519.getPublicKey(seed), 32);
  const key = privateKeyFromRaw(rawKey);
  const deviceId = peerIdFromPrivateKey(key).toString();
  const put = raw.prepare('INSERT INTO ahenk_meta (key, value) VALUES (?, ?)');
  put.run(KEY, toBase64(rawKey));
  put.run(ID, deviceId);
  raw.prepare('INSERT INTO ahenk_sites (id, device) VALUES (0, ?)').run(deviceId);
  return { deviceId, privateKey: key };
}

export function readIdentity(raw: SqliteConnection): DeviceIdentity | undefined {
  const get = raw.prepare('SELECT value FROM ahenk_meta WHERE key = ?');
  const key = get.value(KEY) as string | undefined;
  const deviceId = get.value(ID) as string | undefined;
  if (key === undefined || deviceId === undefined) return undefined;
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

function toBase64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}
