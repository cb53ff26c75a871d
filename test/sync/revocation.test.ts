/**
 * A revoked device learns it was revoked: the peer that refuses it says so in one ERROR frame, the
 * device believes it only from a peer on its own list, stops syncing (no endless retries), keeps
 * its unsynced writes, and with a new identity and a new pairing its writes reach the owner.
 */
import { isDeepStrictEqual } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { getUserDevices, revokeDevice } from '../../src/auth/devices.ts';
import { AuthorizerWorkflow, NewDeviceWorkflow, registerUser } from '../../src/index.ts';
import { getDeviceId, readRevocationNotice, resetIdentity } from '../../src/database/identity.ts';
import { createFramedChannel } from '../../src/sync/session/index.ts';
import { byteChannelOf } from '../../src/sync/node/byte-stream.ts';
import { decodeMessage, encodeMessage, SYNC_PROTOCOL } from '../../src/sync/protocol/index.ts';
import { createSyncNode, type DeviceRevokedEvent, type SyncNode } from '../../src/sync/node/index.ts';
import { dump, openDevice } from '../helpers/db.ts';
import { todos } from '../helpers/schema.ts';
import { authorizePeers, waitFor } from '../net/fixtures.ts';

const nodes: SyncNode[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

type Device = ReturnType<typeof openDevice>;

async function start(db: Device, options: { reconnect?: boolean } = {}): Promise<SyncNode> {
  const node = await createSyncNode(db, {
    listenAddresses: ['/ip4/127.0.0.1/tcp/0'],
    reconnect: options.reconnect ?? true,
    // Fast retries: were the revoked device still retrying, it would show within the test.
    reconnectInitialDelayMs: 20,
    reconnectMaxDelayMs: 100,
    ...(process.env.DEBUG_REV ? { log: (m: string) => console.log(getDeviceId(db).slice(-4), m) } : {}),
  });
  nodes.push(node);
  return node;
}

/** Two devices on each other's list whose ids sort as asked: the lower id opens /ahenk/sync. */
async function pairOrdered(ownerOpens: boolean): Promise<{ owner: Device; laptop: Device }> {
  for (;;) {
    const owner = openDevice('owner');
    const laptop = openDevice('laptop');
    if (getDeviceId(owner) < getDeviceId(laptop) !== ownerOpens) continue;
    await authorizePeers(owner, [getDeviceId(laptop)]);
    await authorizePeers(laptop, [getDeviceId(owner)]);
    return { owner, laptop };
  }
}

function revoke(owner: Device, peerId: string): void {
  const userId = owner.$connection.prepare('SELECT user_id FROM ahenk_devices WHERE peer_id = ?').value(peerId) as string;
  revokeDevice(owner, getUserDevices(owner, userId).find((d) => d.peerId === peerId)!.id);
}

function ids(db: Device): string[] {
  return dump(db, 'todos').map((r) => (r as { id: string }).id);
}

describe('a revoked device', () => {
  for (const ownerOpens of [false, true]) {
    it(`learns it was revoked, stops syncing and keeps its writes (${ownerOpens ? 'the owner opens the stream' : 'the revoked device opens it'})`, async () => {
      const { owner, laptop } = await pairOrdered(ownerOpens);
      const ownerId = getDeviceId(owner);
      revoke(owner, getDeviceId(laptop));
      laptop.insert(todos).values({ id: 'unsynced', title: 'written on the laptop' }).run();

      const ownerNode = await start(owner);
      const laptopNode = await start(laptop);
      const revoked: DeviceRevokedEvent[] = [];
      laptopNode.on('device:revoked', (e) => revoked.push(e));
      const starts: string[] = [];
      laptopNode.on('sync:start', (e) => starts.push(e.peerId));
      await laptopNode.dial(ownerNode.getMultiaddrs()[0]!);

      await waitFor(() => revoked.length > 0, 5_000, 'the revocation notice');
      expect(revoked).toEqual([{ peerId: ownerId, at: expect.any(Number) }]);
      expect(laptopNode.revoked).toEqual({ by: ownerId, at: revoked[0]!.at });
      expect(readRevocationNotice(laptop.$connection)).toEqual({ by: ownerId, at: revoked[0]!.at });

      // No more attempts: with 20-100 ms retries, a second second would hold a dozen.
      const attempts = starts.length;
      await laptopNode.libp2p.hangUp(ownerNode.libp2p.peerId);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(starts.length).toBe(attempts);
      expect(laptopNode.peers()).toEqual([]);
      expect(await laptopNode.syncNow()).toEqual([]);
      expect(ids(laptop)).toEqual(['unsynced']);
      expect(ids(owner)).toEqual([]);

      // A restart of the same identity remembers it and does not dial.
      await laptopNode.stop();
      const again = await start(laptop);
      expect(again.revoked).toEqual({ by: ownerId, at: revoked[0]!.at });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(again.peers()).toEqual([]);
    });
  }

  it('does not believe a revocation from a peer that is not on its list', async () => {
    const laptop = openDevice('laptop');
    const stranger = openDevice('stranger');
    await authorizePeers(laptop, []);
    const laptopNode = await start(laptop, { reconnect: false });
    const strangerNode = await start(stranger, { reconnect: false });
    const revoked: DeviceRevokedEvent[] = [];
    laptopNode.on('device:revoked', (e) => revoked.push(e));

    await strangerNode.dial(laptopNode.getMultiaddrs()[0]!);
    const stream = await strangerNode.libp2p.dialProtocol(laptopNode.libp2p.peerId, SYNC_PROTOCOL);
    const channel = createFramedChannel(byteChannelOf(stream));
    await channel.send(encodeMessage({ type: 'error', code: 'PROTOCOL_REVOKED', message: 'you are revoked' }));
    // All the stranger hears back is one refusal, and nothing about the laptop.
    const replies = [];
    for await (const frame of channel.frames()) replies.push(decodeMessage(frame));
    expect(replies).toEqual([{ type: 'error', code: 'PROTOCOL_REFUSED', message: 'refused: not on the device list' }]);

    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(revoked).toEqual([]);
    expect(laptopNode.revoked).toBeUndefined();
    expect(readRevocationNotice(laptop.$connection)).toBeUndefined();
  });

  it('gets a new identity, is paired again, and its unsynced writes reach the owner', async () => {
    const owner = openDevice('owner');
    const laptop = openDevice('laptop');
    const user = await registerUser(owner, 'ayse', 'ayse@example.test', 'a long pass phrase');
    owner.insert(todos).values({ id: 'shared', title: 'before' }).run();
    let ownerNode = await start(owner);
    let laptopNode = await start(laptop);
    await pairWith(owner, ownerNode, laptop, laptopNode, user.id);
    await waitFor(() => ids(laptop).includes('shared'), 10_000, 'the first sync');
    await Promise.all([laptopNode.stop(), ownerNode.stop()]);

    const oldId = getDeviceId(laptop);
    revoke(owner, oldId);
    laptop.update(todos).set({ title: 'edited while revoked' }).run();
    laptop.insert(todos).values({ id: 'unsynced', title: 'written on the laptop' }).run();
    ownerNode = await start(owner);
    laptopNode = await start(laptop);
    const revoked = laptopNode.once('device:revoked');
    await laptopNode.dial(ownerNode.getMultiaddrs()[0]!);
    await revoked;
    await laptopNode.stop();

    const { previousDeviceId, deviceId } = resetIdentity(laptop);
    expect(previousDeviceId).toBe(oldId);
    expect(getDeviceId(laptop)).toBe(deviceId);
    expect(deviceId).not.toBe(oldId);
    expect(readRevocationNotice(laptop.$connection)).toBeUndefined();
    expect(ids(laptop)).toEqual(['shared', 'unsynced']);

    laptopNode = await start(laptop);
    expect(laptopNode.revoked).toBeUndefined();
    await pairWith(owner, ownerNode, laptop, laptopNode, user.id);
    await waitFor(() => isDeepStrictEqual(dump(owner, 'todos'), dump(laptop, 'todos')), 10_000, 'the unsynced writes to reach the owner');
    expect(dump(owner, 'todos')).toEqual([
      expect.objectContaining({ id: 'shared', title: 'edited while revoked' }),
      expect.objectContaining({ id: 'unsynced', title: 'written on the laptop' }),
    ]);
    // The writes keep their author: the old key, not the new one.
    const authors = owner.$connection
      .prepare("SELECT DISTINCT s.device FROM ahenk_oplog o JOIN ahenk_sites s ON s.id = o.site JOIN ahenk_tables t ON t.id = o.tbl WHERE t.name = 'todos' AND o.pk = 'unsynced'")
      .values()
      .map(([d]) => d);
    expect(authors).toEqual([oldId]);
    // A write under the new key is the new key's.
    laptop.insert(todos).values({ id: 'after', title: 'new key' }).run();
    await waitFor(() => ids(owner).includes('after'), 10_000, 'a write under the new key');
  });
});

/** The real pairing: the owner shows a code, the laptop answers it. */
async function pairWith(owner: Device, ownerNode: SyncNode, laptop: Device, laptopNode: SyncNode, userId: string): Promise<void> {
  const workflow = new AuthorizerWorkflow(owner, ownerNode, { userId, deviceType: 'desktop' });
  try {
    await workflow.createChallenge();
    const answered = workflow.waitForResponse();
    await new NewDeviceWorkflow(laptop, laptopNode, { deviceType: 'laptop' }).respondToChallenge(workflow.getQrCodeString());
    await answered;
  } finally {
    await workflow.close();
  }
}
