/**
 * Authorization at the libp2p layer: a peer that is not on the device list can connect (pairing
 * needs that) but cannot open /ahenk/sync; it is told "refused" in one ERROR frame before any data
 * moves (and learns nothing else), and this node never opens the protocol towards it either.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { revokeDevice, getUserDevices } from '../../src/auth/devices.ts';
import { getDeviceId } from '../../src/database/identity.ts';
import { decodeMessage, SYNC_PROTOCOL } from '../../src/sync/protocol/index.ts';
import { byteChannelOf } from '../../src/sync/node/byte-stream.ts';
import { createFramedChannel } from '../../src/sync/session/index.ts';
import { createSyncNode, UnauthorizedPeerError, type SyncErrorEvent, type SyncNode } from '../../src/sync/node/index.ts';
import { dump, openDevice } from '../helpers/db.ts';
import { todos } from '../helpers/schema.ts';
import { authorizePeers, waitFor } from '../net/fixtures.ts';

const nodes: SyncNode[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

async function start(db: Parameters<typeof createSyncNode>[0]): Promise<SyncNode> {
  const node = await createSyncNode(db, { listenAddresses: ['/ip4/127.0.0.1/tcp/0'], reconnect: false });
  nodes.push(node);
  return node;
}

describe('sync authorization', () => {
  it('refuses /ahenk/sync from a peer that is not on the device list, before any data moves', async () => {
    const owner = openDevice('owner');
    const stranger = openDevice('stranger');
    const strangerId = getDeviceId(stranger);
    await authorizePeers(owner, []);
    // The stranger trusts the owner, so from its side a session is wanted.
    await authorizePeers(stranger, [getDeviceId(owner)]);
    owner.insert(todos).values({ id: 'secret', title: 'owner only' }).run();
    stranger.insert(todos).values({ id: 'intruder', title: 'must not be merged' }).run();

    const ownerNode = await start(owner);
    const strangerNode = await start(stranger);
    const errors: SyncErrorEvent[] = [];
    ownerNode.on('error', (e) => errors.push(e));
    const ownerStarts: string[] = [];
    ownerNode.on('sync:start', (e) => ownerStarts.push(e.peerId));

    await strangerNode.dial(ownerNode.getMultiaddrs()[0]!);
    await waitFor(() => ownerNode.peers().length === 1, 5_000, 'the connection');
    expect(ownerNode.peers()).toEqual([expect.objectContaining({ peerId: strangerId, authorized: false, syncing: false })]);

    // The stranger's own node insists on a session (syncNow opens one whatever the id order).
    const results = await strangerNode.syncNow();
    expect(results).toEqual([]);
    await waitFor(() => errors.length > 0, 5_000, 'the refusal to be reported');
    expect(errors[0]!.error).toBeInstanceOf(UnauthorizedPeerError);
    expect(errors[0]!.error).toMatchObject({ code: 'PEER_UNAUTHORIZED', peerId: strangerId });

    // A raw stream with bytes on it: one ERROR frame saying "refused" comes back, nothing more.
    const stream = await strangerNode.libp2p.dialProtocol(ownerNode.libp2p.peerId, SYNC_PROTOCOL);
    const replies: unknown[] = [];
    const channel = createFramedChannel(byteChannelOf(stream));
    try {
      await channel.send(new Uint8Array([1, 2, 3, 4, 5]));
      for await (const frame of channel.frames()) replies.push(decodeMessage(frame));
    } catch {
      // The stream may be reset once the refusal is out; what counts is what arrived.
    }
    expect(replies).toEqual([{ type: 'error', code: 'PROTOCOL_REFUSED', message: 'refused: not on the device list' }]);

    expect(ownerStarts).toEqual([]);
    expect(dump(owner, 'todos').map((r) => (r as { id: string }).id)).toEqual(['secret']);
    expect(dump(stranger, 'todos').map((r) => (r as { id: string }).id)).toEqual(['intruder']);
    expect(ownerNode.knownPeers()).toEqual([]);
  });

  it('closes the session of a device once it is revoked', async () => {
    const a = openDevice('a');
    const b = openDevice('b');
    const idB = getDeviceId(b);
    await authorizePeers(a, [idB]);
    await authorizePeers(b, [getDeviceId(a)]);
    const na = await start(a);
    const nb = await start(b);
    await nb.dial(na.getMultiaddrs()[0]!);
    await waitFor(() => na.peers().some((p) => p.peerId === idB && p.syncing), 5_000, 'a session');
    const disconnected = na.once('peer:disconnect', { filter: (e) => e.peerId === idB });

    const userId = a.$connection.prepare('SELECT user_id FROM ahenk_devices WHERE peer_id = ?').value(idB) as string;
    const device = getUserDevices(a, userId).find((d) => d.peerId === idB)!;
    revokeDevice(a, device.id);
    expect(na.isAuthorized(idB)).toBe(false);
    await disconnected;
    expect(na.peers()).toEqual([]);
    // Nothing from the revoked device gets in again: its new stream is refused.
    const refused = na.once('error', { filter: (e) => e.peerId === idB });
    await waitFor(() => nb.peers().length === 0, 5_000, 'the other side to see the hang-up');
    await nb.dial(na.getMultiaddrs()[0]!);
    await nb.syncNow();
    expect((await refused).error).toBeInstanceOf(UnauthorizedPeerError);
  });
});
