/**
 * The page's device key, kept out of the database: a non-extractable Ed25519 CryptoKey in the
 * worker's IndexedDB (structured clone keeps it non-extractable), one per database file. The OPFS
 * file keeps only the device id (ahenk_meta), so copying the file does not copy the key, and no
 * script of the origin can read the key's bytes: it can only ask the browser to sign.
 *
 * libp2p and pairing take it as a `PrivateKey` whose `sign` calls WebCrypto (Noise, identify and
 * pairing only sign); its `raw` throws. Where WebCrypto has no Ed25519, the key stays in the
 * database as on Node ("non-extractable where WebCrypto allows").
 */
import { publicKeyFromRaw, privateKeyFromRaw } from '@libp2p/crypto/keys';
import type { Ed25519PrivateKey, Ed25519PublicKey } from '@libp2p/interface';
import { peerIdFromPrivateKey, peerIdFromPublicKey } from '@libp2p/peer-id';
import { holdIdentity, type DeviceIdentity } from '../database/identity.ts';
import { DatabaseError, DeviceKeyError } from '../errors.ts';
import type { SqliteConnection } from '../sqlite/index.ts';

/**
 * WebCrypto's key types, named through `crypto.subtle` so the package builds without the DOM lib
 * (tsconfig.build.json has Node's typings only; in a browser these are the DOM's own types).
 */
type CryptoKey = Parameters<typeof crypto.subtle.sign>[1];
interface CryptoKeyPair {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
}

const STORE_DATABASE = 'ahenk-device-keys';
const STORE = 'keys';
/** An Ed25519 private key as PKCS#8 (RFC 8410) is this prefix and the 32-byte seed. */
const PKCS8_PREFIX = Uint8Array.of(0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20);

/** What IndexedDB keeps per database file. */
interface StoredKey {
  privateKey: CryptoKey;
  /** The 32-byte Ed25519 public key (the device id is made from it). */
  publicKey: Uint8Array;
}

/**
 * Finds, makes or moves the device key of the database `name` (its OPFS directory and file) and
 * holds it for `raw`; call before initializeDatabase. A database made before keys moved out of it
 * has its key bytes in ahenk_meta: they go to IndexedDB first and are deleted from the database
 * only once the stored key has been read back and has signed for the device id, so a tab that dies
 * in between leaves the bytes where they were, and the next open moves them again.
 */
export async function loadDeviceKey(raw: SqliteConnection, name: string): Promise<DeviceIdentity | undefined> {
  const meta = readMeta(raw);
  if (meta.keyText !== undefined && meta.deviceId !== undefined) {
    const identity = await moveKeyOutOfDatabase(name, meta.keyText, meta.deviceId);
    if (identity === undefined) return undefined; // no Ed25519 in this browser's WebCrypto: the bytes stay
    raw.prepare('DELETE FROM ahenk_meta WHERE key = ?').run('device_private_key');
    holdIdentity(raw, identity);
    return identity;
  }
  if (meta.deviceId !== undefined) {
    const stored = await withStore('readonly', (store) => store.get(name));
    if (!isStoredKey(stored)) {
      throw new DeviceKeyError('DEVICE_KEY_MISSING', `the device key of ${name} (device ${meta.deviceId}) is not in this browser's IndexedDB (site data cleared?): the database cannot sync or pair as that device`);
    }
    const identity = identityOf(stored);
    if (identity.deviceId !== meta.deviceId) throw new DatabaseError('ahenk_meta: device id does not match the stored key');
    holdIdentity(raw, identity);
    return identity;
  }
  // A new database (or one whose first open did not finish): a new key, replacing any left over.
  // Key bytes with no device id belong to no identity: they go, so no key stays in the file.
  let pair: CryptoKeyPair;
  try {
    pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify'])) as CryptoKeyPair;
  } catch (error) {
    // A browser whose WebCrypto has no Ed25519 (older releases of the main browsers): the key is
    // made in the database, as on Node (initializeDatabase), and moved here once the browser can.
    if (notSupported(error)) return undefined;
    throw error;
  }
  const stored: StoredKey = { privateKey: pair.privateKey, publicKey: new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey)) };
  await withStore('readwrite', (store) => store.put(stored, name));
  if (meta.keyText !== undefined) raw.prepare('DELETE FROM ahenk_meta WHERE key = ?').run('device_private_key');
  const identity = identityOf(stored);
  holdIdentity(raw, identity);
  return identity;
}

function notSupported(error: unknown): boolean {
  return (error as { name?: unknown } | null)?.name === 'NotSupportedError';
}

/** The key moved to IndexedDB, or undefined where WebCrypto cannot hold an Ed25519 key. */
async function moveKeyOutOfDatabase(name: string, keyText: string, deviceId: string): Promise<DeviceIdentity | undefined> {
  const bytes = Uint8Array.from(atob(keyText), (c) => c.charCodeAt(0));
  if (bytes.length !== 64 || peerIdFromPrivateKey(privateKeyFromRaw(bytes)).toString() !== deviceId) {
    throw new DatabaseError('ahenk_meta: device id does not match the stored key');
  }
  const pkcs8 = new Uint8Array(PKCS8_PREFIX.length + 32);
  pkcs8.set(PKCS8_PREFIX);
  pkcs8.set(bytes.subarray(0, 32), PKCS8_PREFIX.length);
  let privateKey: CryptoKey;
  try {
    privateKey = await crypto.subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, false, ['sign']);
  } catch (error) {
    if (notSupported(error)) return undefined;
    throw error;
  } finally {
    pkcs8.fill(0);
  }
  await withStore('readwrite', (store) => store.put({ privateKey, publicKey: bytes.slice(32) } satisfies StoredKey, name));
  const readBack = await withStore('readonly', (store) => store.get(name));
  if (!isStoredKey(readBack)) throw new DeviceKeyError('DEVICE_KEY_STORE_FAILED', `IndexedDB did not keep the device key of ${name}`);
  const identity = identityOf(readBack);
  const probe = crypto.getRandomValues(new Uint8Array(32));
  if (identity.deviceId !== deviceId || !(await identity.privateKey.publicKey.verify(probe, await identity.privateKey.sign(probe)))) {
    throw new DatabaseError('ahenk_meta: device id does not match the stored key');
  }
  bytes.fill(0);
  return identity;
}

function identityOf(stored: StoredKey): DeviceIdentity {
  const privateKey = webCryptoPrivateKey(stored.privateKey, publicKeyFromRaw(stored.publicKey) as Ed25519PublicKey);
  return { deviceId: peerIdFromPublicKey(privateKey.publicKey).toString(), privateKey };
}

/** libp2p's Ed25519 private key over a CryptoKey: signs through WebCrypto, never shows its bytes. */
function webCryptoPrivateKey(key: CryptoKey, publicKey: Ed25519PublicKey): Ed25519PrivateKey {
  return {
    type: 'Ed25519',
    publicKey,
    get raw(): Uint8Array {
      throw new DeviceKeyError('DEVICE_KEY_NOT_EXTRACTABLE', "the device key is a non-extractable CryptoKey: it signs, but its bytes cannot be read");
    },
    equals(other?: unknown): boolean {
      const candidate = other as { type?: unknown; publicKey?: { equals?: unknown } } | undefined;
      return candidate?.type === 'Ed25519' && typeof candidate.publicKey?.equals === 'function' && publicKey.equals(candidate.publicKey as Ed25519PublicKey);
    },
    async sign(data): Promise<Uint8Array> {
      // A copy on its own ArrayBuffer (WebCrypto takes no view of a shared one); messages are small.
      const bytes = new Uint8Array(data instanceof Uint8Array ? data : data.subarray());
      return new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, key, bytes));
    },
  };
}

function readMeta(raw: SqliteConnection): { deviceId: string | undefined; keyText: string | undefined } {
  const exists = raw.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ahenk_meta'`).get();
  if (!exists) return { deviceId: undefined, keyText: undefined };
  const get = raw.prepare('SELECT value FROM ahenk_meta WHERE key = ?');
  const deviceId = get.value('device_id');
  const keyText = get.value('device_private_key');
  return { deviceId: typeof deviceId === 'string' ? deviceId : undefined, keyText: typeof keyText === 'string' ? keyText : undefined };
}

function isStoredKey(value: unknown): value is StoredKey {
  const record = value as Partial<StoredKey> | undefined;
  return (
    typeof record === 'object' &&
    record !== null &&
    isCryptoKey(record.privateKey) &&
    record.privateKey.algorithm.name === 'Ed25519' &&
    record.privateKey.type === 'private' &&
    record.publicKey instanceof Uint8Array &&
    record.publicKey.length === 32
  );
}

function isCryptoKey(value: unknown): value is CryptoKey {
  const constructor = (globalThis as { CryptoKey?: abstract new () => unknown }).CryptoKey;
  return constructor !== undefined && value instanceof constructor;
}

/** The parts of IndexedDB this file uses (the Node type check has no DOM library). */
interface IdbRequest<T> {
  result: T;
  error: unknown;
  onsuccess: (() => void) | null;
  onerror: (() => void) | null;
}
interface IdbOpenRequest extends IdbRequest<IdbDatabase> {
  onupgradeneeded: (() => void) | null;
  onblocked: (() => void) | null;
}
interface IdbStore {
  get(key: string): IdbRequest<unknown>;
  put(value: unknown, key: string): IdbRequest<unknown>;
}
interface IdbTransaction {
  objectStore(name: string): IdbStore;
  oncomplete: (() => void) | null;
  onerror: (() => void) | null;
  onabort: (() => void) | null;
  error: unknown;
}
interface IdbDatabase {
  objectStoreNames: { contains(name: string): boolean };
  createObjectStore(name: string): unknown;
  transaction(store: string, mode: 'readonly' | 'readwrite', options?: { durability: 'strict' | 'relaxed' | 'default' }): IdbTransaction;
  close(): void;
}

function openStore(): Promise<IdbDatabase> {
  const factory = (globalThis as unknown as { indexedDB?: { open(name: string, version: number): IdbOpenRequest } }).indexedDB;
  if (factory === undefined) return Promise.reject(new DeviceKeyError('DEVICE_KEY_STORE_FAILED', 'this browser offers no IndexedDB to keep the device key in'));
  return new Promise((resolve, reject) => {
    const request = factory.open(STORE_DATABASE, 1);
    request.onupgradeneeded = () => {
      if (!request.result.objectStoreNames.contains(STORE)) request.result.createObjectStore(STORE);
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(new DeviceKeyError('DEVICE_KEY_STORE_FAILED', 'IndexedDB (the device key store) could not be opened', { cause: request.error }));
    request.onblocked = () => reject(new DeviceKeyError('DEVICE_KEY_STORE_FAILED', 'IndexedDB (the device key store) is blocked by another version of this app'));
  });
}

/** Runs one request in its own transaction; resolves once the transaction is complete (durably, for writes). */
async function withStore(mode: 'readonly' | 'readwrite', work: (store: IdbStore) => IdbRequest<unknown>): Promise<unknown> {
  const database = await openStore();
  try {
    return await new Promise((resolve, reject) => {
      const transaction = database.transaction(STORE, mode, { durability: mode === 'readwrite' ? 'strict' : 'default' });
      const request = work(transaction.objectStore(STORE));
      const failed = (): void => reject(new DeviceKeyError('DEVICE_KEY_STORE_FAILED', 'IndexedDB (the device key store) refused the request', { cause: transaction.error ?? request.error }));
      transaction.oncomplete = () => resolve(request.result);
      transaction.onerror = failed;
      transaction.onabort = failed;
    });
  } finally {
    database.close();
  }
}
