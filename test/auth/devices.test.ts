import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { describe, expect, it } from 'vitest';
import { addDeviceToUser, authorizeDevice, getUserDevices, isAuthorizedPeer, registerUser, revokeDevice } from '../../src/auth/index.ts';
import { AuthError, getDeviceId, initializeDatabase } from '../../src/index.ts';

async function setup() {
  const db = initializeDatabase(':memory:');
  const user = await registerUser(db, 'Bob', 'bob@x.com', 'pw');
  return { db, user };
}

async function newPeerId(): Promise<string> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString();
}

function authError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('addDeviceToUser / getUserDevices', () => {
  it('adds devices with trimmed types and lists them oldest first', async () => {
    const { db, user } = await setup();
    const phone = await addDeviceToUser(db, user.id, '  phone ', 'tok-123');
    const laptop = await addDeviceToUser(db, user.id, 'laptop');
    const tablet = await addDeviceToUser(db, user.id, 'tablet', '   ');
    expect(phone).toMatchObject({ userId: user.id, deviceType: 'phone', pushToken: 'tok-123', peerId: null, revokedAt: null });
    expect(laptop.pushToken).toBeNull();
    expect(tablet.pushToken).toBeNull();
    // Made in the same millisecond or not, the list keeps creation order, and keeps it on re-read.
    const listed = getUserDevices(db, user.id);
    expect(listed).toEqual([phone, laptop, tablet]);
    expect(getUserDevices(db, user.id)).toEqual(listed);
  });

  it('orders by creation time even when ids were made out of order', async () => {
    const { db, user } = await setup();
    // A device synced in later but created earlier still lists first.
    db.$connection
      .prepare('INSERT INTO ahenk_devices (id, user_id, device_type, created_at) VALUES (?, ?, ?, ?)')
      .run('ffffffff-ffff-7fff-bfff-ffffffffffff', user.id, 'old', 1);
    const fresh = await addDeviceToUser(db, user.id, 'new');
    expect(getUserDevices(db, user.id).map((d) => d.deviceType)).toEqual(['old', 'new']);
    expect(getUserDevices(db, user.id)[1]).toEqual(fresh);
  });

  it("lists only the user's own devices", async () => {
    const { db, user } = await setup();
    const alice = await registerUser(db, 'Alice', 'alice@x.com', 'pw');
    await addDeviceToUser(db, user.id, 'phone');
    await addDeviceToUser(db, alice.id, 'laptop');
    expect(getUserDevices(db, user.id).map((d) => d.deviceType)).toEqual(['phone']);
    expect(getUserDevices(db, alice.id).map((d) => d.deviceType)).toEqual(['laptop']);
    expect(getUserDevices(db, (await registerUser(db, 'Carol', 'c@x.com', 'pw')).id)).toEqual([]);
  });

  it("throws 'User not found' and 'Device type cannot be empty' as typed errors", async () => {
    const { db, user } = await setup();
    await expect(addDeviceToUser(db, 'no-such-user', 'phone')).rejects.toMatchObject({ name: 'AuthError', code: 'USER_NOT_FOUND', message: 'User not found' });
    await expect(addDeviceToUser(db, user.id, '   ')).rejects.toMatchObject({ code: 'DEVICE_TYPE_EMPTY', message: 'Device type cannot be empty' });
    await expect(addDeviceToUser(db, user.id, '')).rejects.toBeInstanceOf(AuthError);
    await expect(addDeviceToUser(db, user.id, 'x'.repeat(65))).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(addDeviceToUser(db, user.id, 'phone', 't'.repeat(4097))).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    expect(authError(() => getUserDevices(db, 'no-such-user'))).toMatchObject({ name: 'AuthError', code: 'USER_NOT_FOUND', message: 'User not found' });
    expect(getUserDevices(db, user.id)).toEqual([]);
  });
});

describe('authorizeDevice / revokeDevice / isAuthorizedPeer', () => {
  it('authorizes a paired peer id until it is revoked; revoked devices stay listed', async () => {
    const { db, user } = await setup();
    const peerId = await newPeerId();
    expect(isAuthorizedPeer(db, peerId)).toBe(false);
    const device = authorizeDevice(db, { userId: user.id, peerId, deviceType: ' laptop ' });
    expect(device).toMatchObject({ userId: user.id, peerId, deviceType: 'laptop', revokedAt: null });
    expect(isAuthorizedPeer(db, peerId)).toBe(true);

    const revoked = revokeDevice(db, device.id, 1_700_000_000_000);
    expect(revoked).toEqual({ ...device, revokedAt: 1_700_000_000_000 });
    expect(isAuthorizedPeer(db, peerId)).toBe(false);
    // A second revoke keeps the first time.
    expect(revokeDevice(db, device.id, 1_800_000_000_000).revokedAt).toBe(1_700_000_000_000);
    expect(getUserDevices(db, user.id)).toEqual([revoked]);
  });

  it('refuses to authorize a revoked key again', async () => {
    const { db, user } = await setup();
    const peerId = await newPeerId();
    const device = authorizeDevice(db, { userId: user.id, peerId, deviceType: 'phone' });
    revokeDevice(db, device.id);
    expect(authError(() => authorizeDevice(db, { userId: user.id, peerId, deviceType: 'phone' }))).toMatchObject({
      code: 'PEER_ID_REVOKED',
      message: 'Peer id was revoked; pair again with a new key',
    });
    expect(isAuthorizedPeer(db, peerId)).toBe(false);
  });

  it('is idempotent for the same user and refuses a key already owned by another user', async () => {
    const { db, user } = await setup();
    const alice = await registerUser(db, 'Alice', 'alice@x.com', 'pw');
    const peerId = await newPeerId();
    const first = authorizeDevice(db, { userId: user.id, peerId, deviceType: 'phone' });
    expect(authorizeDevice(db, { userId: user.id, peerId, deviceType: 'phone' })).toEqual(first);
    expect(authError(() => authorizeDevice(db, { userId: alice.id, peerId, deviceType: 'phone' }))).toMatchObject({
      code: 'PEER_ID_TAKEN',
      message: 'Peer id is already registered to another user',
    });
    expect(getUserDevices(db, user.id)).toHaveLength(1);
    expect(getUserDevices(db, alice.id)).toHaveLength(0);
  });

  it('validates the peer id, the user and the device type', async () => {
    const { db, user } = await setup();
    const peerId = await newPeerId();
    for (const bad of ['', 'not-a-peer-id', '12D3KooW', 'x'.repeat(500), 42 as unknown as string]) {
      expect(authError(() => authorizeDevice(db, { userId: user.id, peerId: bad, deviceType: 'phone' }))).toMatchObject({
        name: 'AuthError',
        code: 'INVALID_INPUT',
        message: 'Peer id is not a valid libp2p peer id',
      });
      expect(isAuthorizedPeer(db, bad)).toBe(false);
    }
    expect(authError(() => authorizeDevice(db, { userId: 'nobody', peerId, deviceType: 'phone' }))).toMatchObject({ code: 'USER_NOT_FOUND' });
    expect(authError(() => authorizeDevice(db, { userId: user.id, peerId, deviceType: ' ' }))).toMatchObject({ code: 'DEVICE_TYPE_EMPTY' });
    expect(authError(() => revokeDevice(db, 'no-such-device'))).toMatchObject({ code: 'DEVICE_NOT_FOUND', message: 'Device not found' });
    expect(getUserDevices(db, user.id)).toEqual([]);
  });

  it('stores and matches peer ids in their canonical form', async () => {
    const { db, user } = await setup();
    const { peerIdFromString } = await import('@libp2p/peer-id');
    const peerId = await newPeerId();
    const cidForm = peerIdFromString(peerId).toCID().toString();
    expect(cidForm).not.toBe(peerId);
    const device = authorizeDevice(db, { userId: user.id, peerId: cidForm, deviceType: 'phone' });
    expect(device.peerId).toBe(peerId);
    expect(isAuthorizedPeer(db, peerId)).toBe(true);
    expect(isAuthorizedPeer(db, cidForm)).toBe(true);
  });

  it("authorizes a real device's identity, and app-added devices authorize nothing", async () => {
    const { db, user } = await setup();
    const other = initializeDatabase(':memory:');
    const otherId = getDeviceId(other);
    await addDeviceToUser(db, user.id, 'phone');
    expect(isAuthorizedPeer(db, otherId)).toBe(false);
    authorizeDevice(db, { userId: user.id, peerId: otherId, deviceType: 'phone' });
    expect(isAuthorizedPeer(db, otherId)).toBe(true);
    expect(isAuthorizedPeer(db, await newPeerId())).toBe(false);
    other.$connection.close();
  });
});
