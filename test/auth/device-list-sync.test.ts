/**
 * The synced device list under attack (found in review): a stolen device B, revoked on A, reaches a
 * device C that has not heard of the revocation yet, with writes made on its own stale copy
 * (captured by the triggers, as a sqlite3 shell write would be), or with crafted entries. Once C and
 * A sync, B's key must stay locked out everywhere. Real SQLite; sync is export then merge, what a
 * session does with each batch.
 */
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { describe, expect, it } from 'vitest';
import { authorizeDevice, formatHlc, getOplogEntriesSince, getUserDevices, isAuthorizedPeer, merge, parseHlc, registerUser, revokeDevice } from '../../src/index.ts';
import { openDevice } from '../helpers/db.ts';

type Db = ReturnType<typeof openDevice>;

async function newPeerId(): Promise<string> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString();
}

/** One direction of a full sync: everything `from` holds goes into `to`. */
function syncInto(from: Db, to: Db): void {
  merge(to, getOplogEntriesSince(from).entries);
}

async function world() {
  const a = openDevice('a');
  const b = openDevice('b');
  const c = openDevice('c');
  const user = await registerUser(a, 'ayse', 'ayse@example.test', 'a long pass phrase');
  const [keyA, keyB, keyC] = [await newPeerId(), await newPeerId(), await newPeerId()];
  authorizeDevice(a, { userId: user.id, peerId: keyA, deviceType: 'laptop' });
  const recordB = authorizeDevice(a, { userId: user.id, peerId: keyB, deviceType: 'phone' });
  authorizeDevice(a, { userId: user.id, peerId: keyC, deviceType: 'tablet' });
  syncInto(a, b);
  syncInto(a, c);
  return { a, b, c, user, keyB, recordB };
}

function everyoneSyncs(a: Db, c: Db): void {
  syncInto(c, a);
  syncInto(a, c);
  syncInto(c, a);
}

describe('a revoked device cannot come back through the synced list', () => {
  it('control: its own unrevoked record with a newer stamp does not undo the revocation', async () => {
    const { a, b, c, keyB, recordB } = await world();
    revokeDevice(a, recordB.id);
    b.$connection.prepare(`UPDATE ahenk_devices SET revoked_at = NULL, device_type = 'phone!' WHERE id = ?`).run(recordB.id);
    syncInto(b, c);
    everyoneSyncs(a, c);
    expect(isAuthorizedPeer(a, keyB)).toBe(false);
    expect(isAuthorizedPeer(c, keyB)).toBe(false);
  });

  it('a delete and re-insert of its record (higher causal length) does not drop the revocation', async () => {
    const { a, b, c, user, keyB, recordB } = await world();
    revokeDevice(a, recordB.id);
    // On the stolen device's stale copy: delete the record, insert it again, unrevoked.
    b.$connection.prepare('DELETE FROM ahenk_devices WHERE id = ?').run(recordB.id);
    b.$connection.prepare(`INSERT INTO ahenk_devices (id, user_id, device_type, peer_id, created_at) VALUES (?, ?, 'phone', ?, ?)`).run(recordB.id, user.id, keyB, recordB.createdAt);
    syncInto(b, c); // C has not heard of the revocation: B is still authorized there.
    everyoneSyncs(a, c);
    expect(getUserDevices(a, user.id).find((d) => d.id === recordB.id)?.revokedAt).not.toBeNull();
    expect(isAuthorizedPeer(a, keyB)).toBe(false);
    expect(isAuthorizedPeer(c, keyB)).toBe(false);
  });

  it('nor do the same entries relayed after the revocation arrived (any delivery order)', async () => {
    const { a, b, c, user, keyB, recordB } = await world();
    revokeDevice(a, recordB.id);
    syncInto(a, c); // C knows of the revocation first
    b.$connection.prepare('DELETE FROM ahenk_devices WHERE id = ?').run(recordB.id);
    b.$connection.prepare(`INSERT INTO ahenk_devices (id, user_id, device_type, peer_id, created_at) VALUES (?, ?, 'phone', ?, ?)`).run(recordB.id, user.id, keyB, recordB.createdAt);
    // ...and receives B's entries later through a device D that had not heard of it (D relays them).
    const d = openDevice('d');
    syncInto(a, d);
    merge(d, getOplogEntriesSince(b).entries.filter((e) => e.table === 'ahenk_devices'));
    syncInto(d, c);
    everyoneSyncs(a, c);
    expect(isAuthorizedPeer(c, keyB)).toBe(false);
    expect(isAuthorizedPeer(a, keyB)).toBe(false);
  });

  it('moving the revoked record to another peer id and adding a fresh record for its key does not re-authorize it', async () => {
    const { a, b, c, user, keyB, recordB } = await world();
    revokeDevice(a, recordB.id);
    const decoy = await newPeerId();
    b.$connection.prepare('UPDATE ahenk_devices SET peer_id = ? WHERE id = ?').run(decoy, recordB.id);
    b.$connection.prepare(`INSERT INTO ahenk_devices (id, user_id, device_type, peer_id, created_at) VALUES ('fresh', ?, 'phone', ?, ?)`).run(user.id, keyB, Date.now());
    syncInto(b, c);
    everyoneSyncs(a, c);
    // The revocation is still on record (max kept it), but no longer on B's key.
    expect(getUserDevices(a, user.id).find((d) => d.id === recordB.id)?.revokedAt).not.toBeNull();
    expect(isAuthorizedPeer(a, keyB)).toBe(false);
    expect(isAuthorizedPeer(c, keyB)).toBe(false);
  });

  it('a key added under a user id this database does not hold authorizes nothing', async () => {
    const { a, b, c, user, recordB } = await world();
    // While it is still trusted, the stolen device adds a key of the thief's, filed under no user.
    const backdoor = await newPeerId();
    b.$connection.prepare(`INSERT INTO ahenk_devices (id, user_id, device_type, peer_id, created_at) VALUES ('hidden', 'nobody', 'x', ?, ?)`).run(backdoor, Date.now());
    syncInto(b, c);
    everyoneSyncs(a, c);
    revokeDevice(a, recordB.id); // the user revokes every device getUserDevices shows as suspicious
    everyoneSyncs(a, c);
    const listed = getUserDevices(a, user.id).some((d) => d.peerId === backdoor);
    // Either the key must not be authorized, or the user must be able to see (and revoke) it.
    expect(isAuthorizedPeer(a, backdoor) && !listed).toBe(false);
  });

  it('a crafted delete of the revocation row (or a re-insert of it) is ignored', async () => {
    const { a, keyB, recordB } = await world();
    revokeDevice(a, recordB.id);
    const [revocation] = getOplogEntriesSince(a).entries.filter((e) => e.table === 'ahenk_revocations');
    expect(revocation).toMatchObject({ pk: keyB, cl: 1 });
    // Newer stamps, a delete and a re-insert of the row with revoked_at 0: both are ignored.
    const group = { ...revocation!.groups[0]!, hlc: formatHlc(parseHlc(revocation!.groups[0]!.hlc) + 1n) };
    const result = merge(a, [
      { ...revocation!, cl: 2, groups: [{ ...group, values: {} }] },
      { ...revocation!, cl: 3, groups: [{ ...group, values: { revoked_at: 0n } }] },
    ]);
    expect(result).toMatchObject({ applied: 0, unchanged: 2 });
    expect(isAuthorizedPeer(a, keyB)).toBe(false);
    expect(a.$connection.prepare('SELECT revoked_at FROM ahenk_revocations WHERE peer_id = ?').value(keyB)).toBeGreaterThan(0);
  });
});
