// The device identity when its key is not in the database: a key held for the connection (as the
// browser's worker holds its CryptoKey), and a database whose key is gone.
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { describe, expect, it } from 'vitest';
import { DatabaseError, DeviceKeyError, getDeviceId, initializeDatabase, resetIdentity } from '../src/index.ts';
import { holdIdentity, readIdentity } from '../src/database/identity.ts';
import { openConnection } from '../src/sqlite/index.ts';
import { caught, tempDir } from './helpers/db.ts';

describe('device identity kept outside the database', () => {
  it('stores only the device id of a held key, returns the held key, and refuses resetIdentity', async () => {
    const privateKey = await generateKeyPair('Ed25519');
    const deviceId = peerIdFromPrivateKey(privateKey).toString();
    const connection = openConnection(':memory:');
    holdIdentity(connection, { deviceId, privateKey });
    const db = initializeDatabase(connection);
    expect(getDeviceId(db)).toBe(deviceId);
    const keys = connection.prepare('SELECT key FROM ahenk_meta ORDER BY key').values().map((row) => row[0]);
    expect(keys).toContain('device_id');
    expect(keys).not.toContain('device_private_key');
    expect(readIdentity(connection)?.privateKey).toBe(privateKey);
    const error = caught(() => resetIdentity(db));
    expect(error).toBeInstanceOf(DeviceKeyError);
    expect(error).toMatchObject({ code: 'DEVICE_KEY_RESET_UNSUPPORTED' });
    expect(getDeviceId(db)).toBe(deviceId);
    connection.close();
  });

  it("refuses a held key that is not the database's device (device id does not match the stored key)", async () => {
    const path = `${tempDir()}/held.db`;
    initializeDatabase(path).$connection.close();
    const connection = openConnection(path);
    holdIdentity(connection, { deviceId: peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString(), privateKey: await generateKeyPair('Ed25519') });
    const error = caught(() => initializeDatabase(connection));
    expect(error).toBeInstanceOf(DatabaseError);
    expect((error as Error).message).toContain('device id does not match the stored key');
    connection.close();
  });

  it('fails with DEVICE_KEY_MISSING, and makes no new key, when a database has a device id but no key', () => {
    const path = `${tempDir()}/keyless.db`;
    const first = initializeDatabase(path);
    const deviceId = getDeviceId(first);
    first.$connection.prepare('DELETE FROM ahenk_meta WHERE key = ?').run('device_private_key');
    first.$connection.close();

    const error = caught(() => initializeDatabase(path));
    expect(error).toBeInstanceOf(DeviceKeyError);
    expect(error).toMatchObject({ code: 'DEVICE_KEY_MISSING' });
    expect((error as Error).message).toContain(deviceId);
    const after = openConnection(path);
    expect(after.prepare('SELECT value FROM ahenk_meta WHERE key = ?').value('device_id')).toBe(deviceId);
    expect(after.prepare('SELECT count(*) FROM ahenk_meta WHERE key = ?').value('device_private_key')).toBe(0n);
    after.close();
  });
});
