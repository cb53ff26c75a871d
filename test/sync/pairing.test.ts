/**
 * Pairing on 127.0.0.1 with real libp2p nodes: a new device that scans the QR code joins the
 * user's list on both sides and syncs; a code works once, expires, and refuses tampering, a
 * device that cannot prove its key, and anyone who never saw it.
 */
import { isDeepStrictEqual } from 'node:util';
import { multiaddr } from '@multiformats/multiaddr';
import { describe, expect, it } from 'vitest';
import {
  decodePairingQr,
  getUserDevices,
  isAuthorizedPeer,
  loginUser,
  NewDeviceWorkflow,
  PairingError,
  revokeDevice,
} from '../../src/index.ts';
import { PAIR_PROTOCOL } from '../../src/transport.ts';
import { encodePairingQr, responseBytes } from '../../src/auth/pairing/challenge.ts';
import { encodePairingMessage } from '../../src/auth/pairing/messages.ts';
import { readIdentity } from '../../src/database/identity.ts';
import { pairingChannel } from '../../src/sync/pairing/channel.ts';
import { dump, openDevice } from '../helpers/db.ts';
import { todos } from '../helpers/schema.ts';
import { waitFor } from '../net/fixtures.ts';
import { authorizer, caught, node } from './pairing-fixtures.ts';

describe('pairing', () => {
  it('puts the new device on both device lists, hands over the account, and syncs', async () => {
    const { a, user, nodeA, workflow, qr } = await authorizer();
    a.insert(todos).values({ id: 'before-pairing', title: 'from the laptop' }).run();
    const b = openDevice('b');
    const nodeB = await node(b);
    const answered = workflow.waitForResponse();

    const result = await new NewDeviceWorkflow(b, nodeB, { deviceType: 'phone' }).respondToChallenge(qr);
    expect(result).toMatchObject({ userId: user.id, userName: 'ayse', authorizer: nodeA.peerId, devices: 2 });
    expect(await answered).toEqual({ peerId: nodeB.peerId, deviceType: 'phone', userId: user.id });

    for (const [db, other] of [[a, nodeB.peerId], [b, nodeA.peerId]] as const) {
      expect(isAuthorizedPeer(db, other)).toBe(true);
      expect(getUserDevices(db, user.id).map((d) => [d.deviceType, d.peerId]).sort()).toEqual(
        [['laptop', nodeA.peerId], ['phone', nodeB.peerId]].sort(),
      );
    }
    // The account came along: the same password logs in on the new device.
    expect((await loginUser(b, 'ayse@example.test', 'a long pass phrase')).id).toBe(user.id);
    // And the devices sync from then on.
    await waitFor(() => isDeepStrictEqual(dump(a, 'todos'), dump(b, 'todos')), 10_000, 'first sync after pairing');
    expect(dump(b, 'todos')).toHaveLength(1);
  });

  it('lets a code be used once', async () => {
    const { a, nodeA, workflow, qr } = await authorizer();
    const b = openDevice('b');
    await new NewDeviceWorkflow(b, await node(b), { deviceType: 'phone' }).respondToChallenge(qr);
    await workflow.waitForResponse();
    const c = openDevice('c');
    const nodeC = await node(c);
    const error = await caught(new NewDeviceWorkflow(c, nodeC, { deviceType: 'tablet' }).respondToChallenge(qr));
    expect(error.code).toBe('UNKNOWN_CHALLENGE');
    expect(isAuthorizedPeer(a, nodeC.peerId)).toBe(false);
    expect(isAuthorizedPeer(c, nodeA.peerId)).toBe(false);
  });

  it('refuses an expired code on both sides', async () => {
    let clock = Date.now();
    const { a, workflow, qr } = await authorizer({ ttlMs: 60_000, now: () => clock });
    const b = openDevice('b');
    const nodeB = await node(b);
    // The new device sees the expiry itself and dials nothing.
    const late = () => Date.now() + 61_000;
    expect((await caught(new NewDeviceWorkflow(b, nodeB, { deviceType: 'phone', now: late }).respondToChallenge(qr))).code).toBe('EXPIRED');
    // A new device with a slow clock still meets the authorizer's own check.
    clock += 61_000;
    const answered = caught(workflow.waitForResponse());
    expect((await caught(new NewDeviceWorkflow(b, nodeB, { deviceType: 'phone' }).respondToChallenge(qr))).code).toBe('EXPIRED');
    expect((await answered).code).toBe('EXPIRED');
    expect(isAuthorizedPeer(a, nodeB.peerId)).toBe(false);
  });

  it('refuses a code whose addresses or expiry were changed', async () => {
    const { qr } = await authorizer();
    const challenge = decodePairingQr(qr);
    const b = openDevice('b');
    const nodeB = await node(b);
    for (const forged of [{ ...challenge, addresses: ['/ip4/127.0.0.1/tcp/1'] }, { ...challenge, expiresAt: challenge.expiresAt + 3_600_000 }]) {
      const error = await caught(new NewDeviceWorkflow(b, nodeB, { deviceType: 'phone' }).respondToChallenge(encodePairingQr(forged)));
      expect(error.code).toBe('BAD_SIGNATURE');
    }
  });

  it('refuses a device that presents the nonce without proving its key, and the code is spent', async () => {
    const { a, nodeA, workflow, qr } = await authorizer();
    const challenge = decodePairingQr(qr);
    const m = openDevice('mallory');
    const nodeM = await node(m);
    const answered = caught(workflow.waitForResponse());
    const stream = await nodeM.libp2p.dialProtocol(multiaddr(challenge.addresses[0]!), PAIR_PROTOCOL);
    const channel = pairingChannel(stream);
    // A signature by some other key: Noise authenticated nodeM's key, so this proves nothing.
    await channel.send(encodePairingMessage({ type: 'request', version: 1, nonce: challenge.nonce, deviceType: 'phone', proof: Buffer.alloc(64, 7).toString('base64url') }));
    const reply = JSON.parse(new TextDecoder().decode(await channel.next())) as { type: string; code: string };
    expect(reply).toMatchObject({ type: 'reject', code: 'BAD_PROOF' });
    expect((await answered).code).toBe('BAD_PROOF');
    expect(isAuthorizedPeer(a, nodeM.peerId)).toBe(false);
    // The real device comes too late: the code was spent by the failed attempt.
    const b = openDevice('b');
    expect((await caught(new NewDeviceWorkflow(b, await node(b), { deviceType: 'phone' }).respondToChallenge(qr))).code).toBe('UNKNOWN_CHALLENGE');
    expect(nodeA.peers().every((p) => !p.authorized)).toBe(true);
  });

  it('answers garbage on the pairing stream with a reject and authorizes nobody', async () => {
    const { a, qr } = await authorizer();
    const m = openDevice('mallory');
    const nodeM = await node(m);
    const stream = await nodeM.libp2p.dialProtocol(multiaddr(decodePairingQr(qr).addresses[0]!), PAIR_PROTOCOL);
    const channel = pairingChannel(stream);
    await channel.send(new TextEncoder().encode('{"type":"request","version":1,"nonce":5}'));
    const reply = JSON.parse(new TextDecoder().decode(await channel.next())) as { type: string; code: string };
    expect(reply).toMatchObject({ type: 'reject', code: 'PROTOCOL' });
    expect(isAuthorizedPeer(a, nodeM.peerId)).toBe(false);
  });

  it('spreads the device list: a later pairing and a revocation reach every device', async () => {
    const { a, user, nodeA, workflow, qr } = await authorizer();
    const b = openDevice('b');
    const nodeB = await node(b);
    await new NewDeviceWorkflow(b, nodeB, { deviceType: 'phone' }).respondToChallenge(qr);
    await workflow.waitForResponse();
    // C pairs with A after B did: B only hears of C through the synced device list.
    await workflow.createChallenge();
    const c = openDevice('c');
    const nodeC = await node(c);
    await new NewDeviceWorkflow(c, nodeC, { deviceType: 'tablet' }).respondToChallenge(workflow.getQrCodeString());
    await waitFor(() => isAuthorizedPeer(b, nodeC.peerId), 10_000, 'B to learn of C');
    // So B and C sync directly.
    c.insert(todos).values({ id: 'from-c', title: 'tablet' }).run();
    const direct = nodeC.once('sync:complete', { filter: (e) => e.peerId === nodeB.peerId });
    await nodeC.dial(nodeB.getMultiaddrs()[0]!);
    await direct;
    await waitFor(() => dump(b, 'todos').length === 1, 10_000, 'the direct sync');

    // A revokes B: C learns it and drops B, without anyone telling C.
    const phone = getUserDevices(a, user.id).find((d) => d.peerId === nodeB.peerId)!;
    revokeDevice(a, phone.id);
    await waitFor(() => !isAuthorizedPeer(c, nodeB.peerId), 10_000, 'C to learn of the revocation');
    await waitFor(() => !nodeC.peers().some((p) => p.peerId === nodeB.peerId && p.syncing), 5_000, 'C to drop its session with B');
    // B's own record of itself cannot undo it: a revoked record of a key wins over any other.
    expect(isAuthorizedPeer(a, nodeB.peerId)).toBe(false);
  });

  it('lets the user refuse a device that proved its key, which then learns nothing', async () => {
    const asked: string[] = [];
    const { a, user, nodeA, qr } = await authorizer({ confirm: (d) => (asked.push(d.deviceType), false) });
    const b = openDevice('b');
    const nodeB = await node(b);
    const error = await caught(new NewDeviceWorkflow(b, nodeB, { deviceType: 'unknown phone' }).respondToChallenge(qr));
    expect(error.code).toBe('REFUSED');
    expect(asked).toEqual(['unknown phone']);
    expect(isAuthorizedPeer(a, nodeB.peerId)).toBe(false);
    // Refused before the account was sent: B holds neither the user nor the authorizer.
    expect(b.$connection.prepare('SELECT count(*) FROM ahenk_users WHERE id = ?').value(user.id)).toBe(0n);
    expect(isAuthorizedPeer(b, nodeA.peerId)).toBe(false);
  });

  it('lists the new device only after it confirms: a device that drops out after the accept is not paired', async () => {
    const { a, workflow, qr } = await authorizer();
    const challenge = decodePairingQr(qr);
    const b = openDevice('b');
    const nodeB = await node(b);
    const answered = caught(workflow.waitForResponse());
    const stream = await nodeB.libp2p.dialProtocol(multiaddr(challenge.addresses[0]!), PAIR_PROTOCOL);
    const channel = pairingChannel(stream);
    const { privateKey } = readIdentity(b.$connection)!;
    const proof = Buffer.from(await privateKey.sign(responseBytes(challenge.authorizer, nodeB.peerId, challenge.nonce))).toString('base64url');
    await channel.send(encodePairingMessage({ type: 'request', version: 1, nonce: challenge.nonce, deviceType: 'phone', proof }));
    expect(JSON.parse(new TextDecoder().decode(await channel.next()))).toMatchObject({ type: 'accept' });
    channel.abort(new Error('the phone crashed'));
    expect((await answered).code).toMatch(/PROTOCOL|CANCELLED/);
    expect(isAuthorizedPeer(a, nodeB.peerId)).toBe(false);
  });

  it('spends a code when its time runs out, whatever the clocks say, and ends with the node', async () => {
    const frozen = Date.now();
    const { workflow, qr } = await authorizer({ ttlMs: 150, now: () => frozen });
    expect((await caught(workflow.waitForResponse())).code).toBe('EXPIRED');
    const b = openDevice('b');
    const error = await caught(new NewDeviceWorkflow(b, await node(b), { deviceType: 'phone', now: () => frozen }).respondToChallenge(qr));
    expect(error.code).toBe('UNKNOWN_CHALLENGE');

    const second = await authorizer();
    const waiting = caught(second.workflow.waitForResponse());
    await second.nodeA.stop();
    expect((await waiting).code).toBe('CANCELLED');
  });

  it('rejects malformed pairing codes with INVALID_QR before dialling', () => {
    for (const text of ['', 'hello', 'ahenk-pair:1:!!!', `ahenk-pair:1:${Buffer.from('[1,2]').toString('base64url')}`, `ahenk-pair:1:${'A'.repeat(5000)}`, 42]) {
      const error = (() => {
        try {
          decodePairingQr(text);
        } catch (e) {
          return e;
        }
      })();
      expect(error, String(text).slice(0, 20)).toBeInstanceOf(PairingError);
      expect((error as PairingError).code).toBe('INVALID_QR');
    }
  });
});
