/**
 * Pairing at its edges (found in review): what the authorizer reports always matches what it
 * listed, a finished pairing frees the node for the next one, a device behind NAT pairs through
 * its relay address, and the list the new device records never overwrites the authorizer's.
 */
import { multiaddr } from '@multiformats/multiaddr';
import { describe, expect, it } from 'vitest';
import {
  addDeviceToUser,
  AuthorizerWorkflow,
  decodePairingQr,
  getOplogEntriesSince,
  getUserDevices,
  isAuthorizedPeer,
  NewDeviceWorkflow,
  registerUser,
  type PairingError,
} from '../../src/index.ts';
import { PAIR_PROTOCOL } from '../../src/transport.ts';
import { responseBytes } from '../../src/auth/pairing/challenge.ts';
import { encodePairingMessage } from '../../src/auth/pairing/messages.ts';
import { readIdentity } from '../../src/database/identity.ts';
import { pairingChannel } from '../../src/sync/pairing/channel.ts';
import { openDevice } from '../helpers/db.ts';
import { waitFor } from '../net/fixtures.ts';
import { authorizer, node } from './pairing-fixtures.ts';
import { startRelayServer } from './relay-server.ts';

async function settle<T>(promise: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  return promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
}

/** Speaks the protocol by hand with its own (Noise-authenticated) key, up to the accept. */
async function byHand(qr: string) {
  const challenge = decodePairingQr(qr);
  const m = openDevice('by-hand');
  const nodeM = await node(m);
  const key = readIdentity(m.$connection)!.privateKey;
  const proof = Buffer.from(await key.sign(responseBytes(challenge.authorizer, nodeM.peerId, challenge.nonce))).toString('base64url');
  const channel = pairingChannel(await nodeM.libp2p.dialProtocol(multiaddr(challenge.addresses[0]!), PAIR_PROTOCOL));
  await channel.send(encodePairingMessage({ type: 'request', version: 1, nonce: challenge.nonce, deviceType: 'phone', proof }));
  const accept = JSON.parse(new TextDecoder().decode(await channel.next())) as { type: string };
  return { nodeM, channel, accept };
}

describe('what the authorizer reports matches what it lists', () => {
  it('a device that confirms and resets at once is listed, and reported paired', async () => {
    const { a, workflow, qr } = await authorizer();
    const answered = settle(workflow.waitForResponse());
    const { nodeM, channel } = await byHand(qr);
    await channel.send(encodePairingMessage({ type: 'confirm', version: 1 }));
    channel.abort(new Error('gone'));
    const outcome = await answered;
    expect(outcome.value).toMatchObject({ peerId: nodeM.peerId });
    expect(isAuthorizedPeer(a, nodeM.peerId)).toBe(true);
  });

  it('a code that expires while a pairing is in flight is reported EXPIRED and lists nobody', async () => {
    const { a, workflow, qr } = await authorizer({ ttlMs: 1_000 });
    const answered = settle(workflow.waitForResponse());
    const { nodeM, channel, accept } = await byHand(qr);
    expect(accept.type).toBe('accept');
    await new Promise((resolve) => setTimeout(resolve, 1_300));
    await channel.send(encodePairingMessage({ type: 'confirm', version: 1 }));
    const last = JSON.parse(new TextDecoder().decode(await channel.next())) as { type: string; code?: string };
    expect(((await answered).error as PairingError | undefined)?.code).toBe('EXPIRED');
    expect(last).toMatchObject({ type: 'reject', code: 'EXPIRED' });
    expect(isAuthorizedPeer(a, nodeM.peerId)).toBe(false);
  });
});

describe('pairing lifecycle', () => {
  it('a finished workflow does not block the next pairing on the node, even without close()', async () => {
    const { a, nodeA, workflow, user, qr } = await authorizer();
    const b = openDevice('b');
    await new NewDeviceWorkflow(b, await node(b), { deviceType: 'phone' }).respondToChallenge(qr);
    await workflow.waitForResponse();
    const next = new AuthorizerWorkflow(a, nodeA, { userId: user.id });
    expect((await settle(next.createChallenge())).error).toBeUndefined();
    await next.close();
    // The used code, dialled again, meets no listener and says so.
    const c = openDevice('c');
    const late = await settle(new NewDeviceWorkflow(c, await node(c), { deviceType: 'tablet' }).respondToChallenge(qr));
    expect((late.error as PairingError).code).toBe('UNKNOWN_CHALLENGE');
  });

  it('pairs when the code holds only the relayed address (a device behind NAT)', async () => {
    const relay = await startRelayServer();
    try {
      const a = openDevice('a');
      const nodeA = await node(a, { relayServers: [relay.getMultiaddrs()[0]!.toString()] });
      await waitFor(() => nodeA.getMultiaddrs().some((m) => m.includes('/p2p-circuit')), 10_000, 'a relay reservation');
      const circuit = nodeA.getMultiaddrs().find((m) => m.includes('/p2p-circuit'))!;
      const { workflow } = await authorizer({ addresses: [circuit] }, { a, nodeA });
      const b = openDevice('b');
      const nodeB = await node(b);
      const joined = await settle(new NewDeviceWorkflow(b, nodeB, { deviceType: 'phone' }).respondToChallenge(workflow.getQrCodeString()));
      expect((joined.error as Error | undefined)?.message).toBeUndefined();
      expect(isAuthorizedPeer(a, nodeB.peerId)).toBe(true);
    } finally {
      await relay.stop();
    }
  });
});

describe('the device list after pairing', () => {
  it("keeps the push tokens of A's devices once B's recorded copy of the list syncs back", async () => {
    const a = openDevice('a');
    const user = await registerUser(a, 'ayse', 'ayse@example.test', 'a long pass phrase');
    const watch = await addDeviceToUser(a, user.id, 'watch', 'apns-token-of-the-watch');
    const nodeA = await node(a);
    const workflow = new AuthorizerWorkflow(a, nodeA, { userId: user.id, deviceType: 'laptop' });
    await workflow.createChallenge();
    const b = openDevice('b');
    const nodeB = await node(b);
    await new NewDeviceWorkflow(b, nodeB, { deviceType: 'phone' }).respondToChallenge(workflow.getQrCodeString());
    await workflow.waitForResponse();
    // The first sync brings A's own entries for the list to B, tokens included.
    await waitFor(() => getUserDevices(b, user.id).find((d) => d.id === watch.id)?.pushToken === 'apns-token-of-the-watch', 10_000, 'the list to sync to B');
    const fromB = getOplogEntriesSince(b).entries.filter((e) => e.table === 'ahenk_devices' && e.groups.some((g) => g.device === nodeB.peerId));
    expect(fromB).toEqual([]);
    expect(getUserDevices(a, user.id).find((d) => d.id === watch.id)?.pushToken).toBe('apns-token-of-the-watch');
  });
});

