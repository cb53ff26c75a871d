// The page's device key: a non-extractable CryptoKey in the worker's IndexedDB, not bytes in the
// OPFS database. A new database makes it there, an old one (key bytes in ahenk_meta) has it moved,
// a reload keeps it, Noise signs with it when the page syncs with a Node device, and a database
// whose key is gone from IndexedDB refuses to open instead of taking a new key under its old id.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { getDeviceId, initializeDatabase } from '../../src/index.ts';
import { ahenkDevices, ahenkUsers } from '../../src/schema/system.ts';
import { createSyncNode } from '../../src/sync/node/index.ts';
import { tempDir } from '../helpers/db.ts';
import { authorizePeers, waitFor } from '../net/fixtures.ts';
import { cleanupsAfterAll, fixtureInChromium } from './chromium-fixture.ts';
import { schema, todos } from './fixture/schema.ts';
import { callPage, chromiumMissing, openFixturePage, pageReady } from './harness.ts';

const MIGRATIONS = fileURLToPath(new URL('./fixture/drizzle', import.meta.url));
/** The fixture's database: the default OPFS directory and its file (worker.ts). */
const KEY_NAME = '.ahenk:/todos.db';

interface KeyFacts {
  isCryptoKey: boolean;
  extractable: boolean;
  type: string;
  algorithm: string;
  /** The error name exportKey('pkcs8') rejected with, or 'exported'. */
  exportPkcs8: string;
  /** A signature of `message` by the stored key. */
  signature: number[];
}

/** What IndexedDB holds for the fixture's database, read in the page (same origin as the worker). */
function storedKey(page: Page, message: number[]): Promise<KeyFacts | null> {
  return page.evaluate(
    async ([name, bytes]) => {
      const database = await new Promise<IDBDatabase>((resolve, reject) => {
        const request = indexedDB.open('ahenk-device-keys');
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
      });
      const record = await new Promise<unknown>((resolve, reject) => {
        const request = database.transaction('keys', 'readonly').objectStore('keys').get(name as string);
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
      });
      database.close();
      if (record === undefined) return null;
      const key = (record as { privateKey: CryptoKey }).privateKey;
      const exportPkcs8 = await crypto.subtle.exportKey('pkcs8', key).then(
        () => 'exported',
        (error: Error) => error.name,
      );
      const signature = new Uint8Array(await crypto.subtle.sign('Ed25519', key, new Uint8Array(bytes as number[])));
      return { isCryptoKey: key instanceof CryptoKey, extractable: key.extractable, type: key.type, algorithm: key.algorithm.name, exportPkcs8, signature: Array.from(signature) };
    },
    [KEY_NAME, message] as const,
  );
}

function deleteStoredKey(page: Page): Promise<void> {
  return page.evaluate(async (name) => {
    const database = await new Promise<IDBDatabase>((resolve, reject) => {
      const request = indexedDB.open('ahenk-device-keys');
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    await new Promise<void>((resolve, reject) => {
      const transaction = database.transaction('keys', 'readwrite');
      transaction.objectStore('keys').delete(name);
      transaction.oncomplete = () => resolve();
      transaction.onerror = () => reject(transaction.error);
    });
    database.close();
  }, KEY_NAME);
}

/**
 * Stores a key in IndexedDB as the worker would: `seed` (32 bytes) imported non-extractable with
 * its public key, or, without a seed, a new key (one that belongs to no device of the page).
 */
function putStoredKey(page: Page, seed?: number[], publicKey?: number[]): Promise<void> {
  return page.evaluate(
    async ([name, seedBytes, publicBytes]) => {
      let record: { privateKey: CryptoKey; publicKey: Uint8Array };
      if (seedBytes === undefined) {
        const pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify'])) as CryptoKeyPair;
        record = { privateKey: pair.privateKey, publicKey: new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey)) };
      } else {
        const pkcs8 = new Uint8Array([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20, ...seedBytes]);
        record = { privateKey: await crypto.subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, false, ['sign']), publicKey: new Uint8Array(publicBytes!) };
      }
      const database = await new Promise<IDBDatabase>((resolve, reject) => {
        const request = indexedDB.open('ahenk-device-keys');
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
      });
      await new Promise<void>((resolve, reject) => {
        const transaction = database.transaction('keys', 'readwrite');
        transaction.objectStore('keys').put(record, name);
        transaction.oncomplete = () => resolve();
        transaction.onerror = () => reject(transaction.error);
      });
      database.close();
    },
    [KEY_NAME, seed, publicKey] as const,
  );
}

/** What the fixture page says when its database did not open. */
async function openFailure(page: Page): Promise<{ name: string; code: string; message: string }> {
  await page.waitForSelector('body[data-failed]', { timeout: 60_000 });
  return JSON.parse((await page.getAttribute('body', 'data-failed'))!) as { name: string; code: string; message: string };
}

/** Asserts that IndexedDB holds a non-extractable Ed25519 key that signs as `deviceId`. */
async function expectNonExtractableKeyOf(page: Page, deviceId: string): Promise<void> {
  const message = Array.from(crypto.getRandomValues(new Uint8Array(48)));
  const facts = await storedKey(page, message);
  expect(facts).toMatchObject({ isCryptoKey: true, extractable: false, type: 'private', algorithm: 'Ed25519', exportPkcs8: 'InvalidAccessError' });
  const publicKey = peerIdFromString(deviceId).publicKey!;
  expect(await publicKey.verify(new Uint8Array(message), new Uint8Array(facts!.signature))).toBe(true);
}

describe.skipIf(chromiumMissing !== undefined)("the page's device key (non-extractable, in IndexedDB)", () => {
  const chromium = fixtureInChromium();
  const stops = cleanupsAfterAll();

  it('is made in IndexedDB on first open, non-extractable, signs as the device id, is not in ahenk_meta, and survives a reload', { timeout: 120_000 }, async () => {
    const context = await chromium.newContext();
    stops.push(() => context.close());
    const page = await openFixturePage(context, chromium.origin());
    const deviceId = await callPage<string>(page, 'deviceId');
    await expectNonExtractableKeyOf(page, deviceId);
    const keys = await callPage<string[]>(page, 'metaKeys');
    expect(keys).toContain('device_id');
    expect(keys).not.toContain('device_private_key');

    await page.reload();
    await pageReady(page);
    expect(await callPage<string>(page, 'deviceId')).toBe(deviceId);
    await expectNonExtractableKeyOf(page, deviceId);
  });

  /** A fresh page whose database holds a Node-made key as raw bytes in ahenk_meta (the format before keys moved out). */
  async function pageWithOldFormatKey() {
    const context = await chromium.newContext();
    stops.push(() => context.close());
    const page = await openFixturePage(context, chromium.origin());
    const oldKey = await generateKeyPair('Ed25519');
    const oldId = peerIdFromPrivateKey(oldKey).toString();
    await callPage(page, 'plantOldFormatKey', oldId, Buffer.from(oldKey.raw).toString('base64'));
    return { page, oldKey, oldId };
  }

  it('moves the key bytes of an older page database into IndexedDB, deletes them from ahenk_meta, and syncs with a Node device over Noise with it', { timeout: 180_000 }, async () => {
    // An older database: its key as raw bytes in ahenk_meta, nothing in IndexedDB.
    const { page, oldId } = await pageWithOldFormatKey();
    await deleteStoredKey(page);
    expect(await storedKey(page, [1])).toBeNull();
    expect(await callPage<string[]>(page, 'metaKeys')).toContain('device_private_key');

    await page.reload();
    await pageReady(page);
    expect(await callPage<string>(page, 'deviceId')).toBe(oldId);
    expect(await callPage<string[]>(page, 'metaKeys')).not.toContain('device_private_key');
    await expectNonExtractableKeyOf(page, oldId);

    // The moved key proves the page over Noise: a Node device that lists only oldId syncs with it.
    const nodeDb = initializeDatabase(join(tempDir(), 'node.db'), { schema, migrationsFolder: MIGRATIONS });
    stops.push(() => nodeDb.$connection.close());
    await authorizePeers(nodeDb, [oldId]);
    await callPage(page, 'authorize', nodeDb.select().from(ahenkUsers).all(), nodeDb.select().from(ahenkDevices).all());
    nodeDb.insert(todos).values({ id: 'n1', title: 'from Node' }).run();
    await callPage(page, 'add', 'p1', 'from the page');
    const node = await createSyncNode(nodeDb, { listenAddresses: ['/ip4/127.0.0.1/tcp/0/ws'], keepPort: false });
    stops.push(() => node.stop());
    const address = node.getMultiaddrs().find((a) => a.includes('/ws/'))!;
    expect(await callPage<string>(page, 'dial', address)).toBe(getDeviceId(nodeDb));
    await callPage(page, 'waitForTitle', 'n1', 'from Node', 30_000);
    await waitFor(() => nodeDb.select().from(todos).all().some((row) => row.id === 'p1'), 30_000, "the page's row on Node");
    expect(node.peers().map((p) => p.peerId)).toContain(oldId);
    expect(await callPage<string[]>(page, 'syncErrors')).toEqual([]);
  });

  it('refuses to open a database whose key is gone from IndexedDB (DEVICE_KEY_MISSING), and makes no new key', { timeout: 120_000 }, async () => {
    const context = await chromium.newContext();
    stops.push(() => context.close());
    const page = await openFixturePage(context, chromium.origin());
    const deviceId = await callPage<string>(page, 'deviceId');
    await deleteStoredKey(page);

    await page.reload();
    const failed = await openFailure(page);
    expect(failed).toMatchObject({ name: 'DeviceKeyError', code: 'DEVICE_KEY_MISSING' });
    expect(failed.message).toContain(deviceId);
    expect(await storedKey(page, [1])).toBeNull();
  });

  it('moves the key again when a tab died after storing it in IndexedDB and before deleting the bytes', { timeout: 120_000 }, async () => {
    // The state such a tab leaves: the bytes still in ahenk_meta, and the same key already in IndexedDB.
    const { page, oldKey, oldId } = await pageWithOldFormatKey();
    await putStoredKey(page, Array.from(oldKey.raw.subarray(0, 32)), Array.from(oldKey.raw.subarray(32)));

    await page.reload();
    await pageReady(page);
    expect(await callPage<string>(page, 'deviceId')).toBe(oldId);
    expect(await callPage<string[]>(page, 'metaKeys')).not.toContain('device_private_key');
    await expectNonExtractableKeyOf(page, oldId);
  });

  it("refuses to open a database whose IndexedDB key is another device's (device id does not match the stored key)", { timeout: 120_000 }, async () => {
    const context = await chromium.newContext();
    stops.push(() => context.close());
    const page = await openFixturePage(context, chromium.origin());
    await putStoredKey(page);

    await page.reload();
    const failed = await openFailure(page);
    expect(failed).toMatchObject({ name: 'DatabaseError', code: 'DATABASE_INVALID' });
    expect(failed.message).toContain('device id does not match the stored key');
  });
});
