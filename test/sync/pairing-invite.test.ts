/**
 * /ahenk/pair-invite/1.0.0 between two Node sync nodes on 127.0.0.1 (the page's half runs the same
 * InviteeWorkflow, tested in Chromium in test/browser/invitation.test.ts): a wrong nonce is refused
 * without spending the invitation and without the invitee saying anything but the refusal; a bad
 * proof spends it; of two devices presenting the right nonce at once, one pairs; a closed
 * invitation meets no listener.
 */
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { describe, expect, it } from 'vitest';
import { acceptInvitation, getDeviceId, InviteeWorkflow, registerUser } from '../../src/index.ts';
import { PAIR_INVITE_PROTOCOL } from '../../src/sync/pairing/index.ts';
import { randomBase64url } from '../../src/auth/pairing/bytes.ts';
import { decodePairingInvitation, offerBytes } from '../../src/auth/pairing/invitation.ts';
import { decodePairConfirm, decodePairRequest, encodePairingMessage, PAIRING_VERSION } from '../../src/auth/pairing/messages.ts';
import { commitPairing, planPairing } from '../../src/auth/pairing/accept.ts';
import { readIdentity } from '../../src/database/identity.ts';
import { base64, connectionOf } from '../../src/sqlite/index.ts';
import type { SyncNode } from '../../src/sync/node/index.ts';
import { pairingChannel } from '../../src/sync/pairing/channel.ts';
import { ahenkDevices } from '../../src/schema/system.ts';
import { eq } from 'drizzle-orm';
import { openDevice } from '../helpers/db.ts';
import { todos } from '../helpers/schema.ts';
import { waitFor } from '../net/fixtures.ts';
import { caught, node, type Device } from './pairing-fixtures.ts';

/** A device with an account and a node. */
async function listedDevice(name: string) {
  const db = openDevice(name);
  const user = await registerUser(db, name, `${name}@example.test`, 'a long pass phrase');
  return { db, user, node: await node(db) };
}

/** A fresh device showing an invitation at its TCP address. */
async function invitee(ttlMs?: number) {
  const db = openDevice('p');
  const nodeP = await node(db);
  const workflow = new InviteeWorkflow(db, nodeP, { deviceType: 'phone', addresses: nodeP.getMultiaddrs(), ...(ttlMs === undefined ? {} : { ttlMs }) });
  await workflow.createInvitation();
  const outcome = workflow.waitForAuthorizer();
  outcome.catch(() => {});
  return { db, node: nodeP, workflow, code: workflow.getQrCodeString(), outcome };
}

/** Sends one hand-made offer to the invitee from `from`; returns every frame it answered with. */
async function rawOffer(from: { db: Device; node: SyncNode }, code: string, offer: { nonce: string; signFor?: string }): Promise<Record<string, unknown>[]> {
  const invitation = decodePairingInvitation(code);
  const identity = readIdentity(connectionOf(from.db))!;
  const proof = base64(await identity.privateKey.sign(offerBytes(offer.signFor ?? invitation.invitee, from.node.peerId, offer.nonce)), { url: true });
  const stream = await from.node.libp2p.dialProtocol(multiaddr(invitation.addresses[0]!), PAIR_INVITE_PROTOCOL);
  const channel = pairingChannel(stream);
  await channel.send(encodePairingMessage({ type: 'offer', version: PAIRING_VERSION, nonce: offer.nonce, proof }));
  const frames: Record<string, unknown>[] = [];
  for (;;) {
    const frame = await channel.next(undefined, 5_000).catch(() => undefined);
    if (frame === undefined) {
      await channel.close().catch(() => {});
      return frames;
    }
    frames.push(JSON.parse(new TextDecoder().decode(frame)) as Record<string, unknown>);
  }
}

describe('pairing by invitation (the device that is not listed shows the code)', () => {
  it('pairs: the invitee is listed on both sides, knows the account, and they sync', async () => {
    const a = await listedDevice('ayse');
    const p = await invitee();
    const device = await acceptInvitation(a.db, a.node, p.code, { userId: a.user.id, deviceType: 'laptop' });
    expect(device).toEqual({ peerId: p.node.peerId, deviceType: 'phone', userId: a.user.id });
    expect(await p.outcome).toEqual({ userId: a.user.id, userName: 'ayse', authorizer: a.node.peerId, devices: 2 });
    const listed = (db: Device) => db.select({ peerId: ahenkDevices.peerId }).from(ahenkDevices).all().map((d) => d.peerId).sort();
    expect(listed(a.db)).toEqual([a.node.peerId, p.node.peerId].sort());
    expect(listed(p.db)).toEqual(listed(a.db));
    expect(a.node.isAuthorized(p.node.peerId)).toBe(true);
    expect(p.node.isAuthorized(getDeviceId(a.db))).toBe(true);
    a.db.insert(todos).values({ id: 'from-a', title: 'written on A after pairing' }).run();
    p.db.insert(todos).values({ id: 'from-p', title: 'written on P after pairing' }).run();
    await waitFor(() => p.db.select().from(todos).where(eq(todos.id, 'from-a')).get() !== undefined, 15_000, 'A row on P');
    await waitFor(() => a.db.select().from(todos).where(eq(todos.id, 'from-p')).get() !== undefined, 15_000, 'P row on A');
  });

  it('refuses a wrong nonce with UNKNOWN_CHALLENGE and nothing else, without spending the invitation', async () => {
    const a = await listedDevice('ayse');
    const p = await invitee();
    const frames = await rawOffer(a, p.code, { nonce: randomBase64url(32) });
    // Only the refusal: no request, so no proof of the invitee's key and no device type.
    expect(frames).toEqual([{ type: 'reject', version: PAIRING_VERSION, code: 'UNKNOWN_CHALLENGE', message: expect.any(String) as string }]);
    // The real code still pairs.
    expect(await acceptInvitation(a.db, a.node, p.code, { userId: a.user.id })).toMatchObject({ peerId: p.node.peerId });
    await expect(p.outcome).resolves.toMatchObject({ authorizer: a.node.peerId });
  });

  it('spends the invitation on the right nonce with a bad proof (BAD_PROOF); the code is then refused', async () => {
    const a = await listedDevice('ayse');
    const p = await invitee();
    const { nonce } = decodePairingInvitation(p.code);
    const frames = await rawOffer(a, p.code, { nonce, signFor: a.node.peerId });
    expect(frames).toEqual([{ type: 'reject', version: PAIRING_VERSION, code: 'BAD_PROOF', message: expect.any(String) as string }]);
    expect((await caught(p.outcome)).code).toBe('BAD_PROOF');
    expect((await caught(acceptInvitation(a.db, a.node, p.code, { userId: a.user.id }))).code).toBe('UNKNOWN_CHALLENGE');
    expect(p.db.select().from(ahenkDevices).all()).toEqual([]);
  });

  it('pairs one of two devices that present the right nonce at once; the other gets UNKNOWN_CHALLENGE', async () => {
    const [a, b] = [await listedDevice('ayse'), await listedDevice('bora')];
    const p = await invitee();
    const results = await Promise.allSettled([acceptInvitation(a.db, a.node, p.code, { userId: a.user.id }), acceptInvitation(b.db, b.node, p.code, { userId: b.user.id })]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const refused = results.find((r) => r.status === 'rejected');
    expect(refused?.reason).toMatchObject({ name: 'PairingError', code: 'UNKNOWN_CHALLENGE' });
    const winner = results[0]!.status === 'fulfilled' ? a : b;
    expect((await p.outcome).authorizer).toBe(winner.node.peerId);
  });

  it('tells the authorizer when it refuses the accept (another account of that name here): A lists nothing', async () => {
    const a = await listedDevice('ayse');
    const p = await invitee();
    await registerUser(p.db, 'ayse', 'someone-else@example.test', 'another long pass phrase');
    const refused = await caught(acceptInvitation(a.db, a.node, p.code, { userId: a.user.id }));
    expect(refused.code).toBe('REFUSED');
    expect(refused.message).toContain('another account');
    expect((await caught(p.outcome)).code).toBe('ACCOUNT_CONFLICT');
    expect(a.db.select().from(ahenkDevices).all()).toEqual([]);
  });

  it('a device that already holds an account shows no invitation: a stranger accepting it would join the page to a second account and sync its data', async () => {
    const a = await listedDevice('ayse');
    const p = await invitee();
    await acceptInvitation(a.db, a.node, p.code, { userId: a.user.id });
    await p.outcome;
    a.db.insert(todos).values({ id: 'secret', title: 'ayse only' }).run();
    await waitFor(() => p.db.select().from(todos).where(eq(todos.id, 'secret')).get() !== undefined, 15_000, 'the row on P');
    // P, now on ayse's list, is asked for another invitation (an app that always offers one).
    const again = new InviteeWorkflow(p.db, p.node, { deviceType: 'phone', addresses: p.node.getMultiaddrs() });
    const refused = await caught(again.createInvitation());
    expect(refused.code).toBe('REFUSED');
    expect(() => again.getQrCodeString()).toThrow();
    await again.close();
  });

  it('refuses an accept for another account than one the invitee came to hold while showing the invitation (ACCOUNT_CONFLICT); A lists nothing', async () => {
    const b = await listedDevice('bora');
    const p = await invitee();
    // Meanwhile P joined (or made) another account: accepting would put it on bora's list as well.
    await registerUser(p.db, 'ayse', 'ayse@example.test', 'a long pass phrase');
    const refused = await caught(acceptInvitation(b.db, b.node, p.code, { userId: b.user.id }));
    expect(refused.code).toBe('REFUSED');
    expect(refused.message).toContain('another account');
    expect((await caught(p.outcome)).code).toBe('ACCOUNT_CONFLICT');
    expect(b.db.select().from(ahenkDevices).all()).toEqual([]);
    expect(p.db.select().from(ahenkDevices).all()).toEqual([]);
    expect(p.node.isAuthorized(b.node.peerId)).toBe(false);
  });

  it('refuses what is checked before dialling: a forged, an expired and its own invitation; a closed one meets no listener', async () => {
    const a = await listedDevice('ayse');
    const p = await invitee();
    const [invitee_, addresses, nonce, expiresAt, signature] = JSON.parse(Buffer.from(p.code.slice('ahenk-invite:1:'.length), 'base64url').toString()) as [string, string[], string, number, string];
    const forged = 'ahenk-invite:1:' + Buffer.from(JSON.stringify([invitee_, ['/ip4/127.0.0.1/tcp/9', ...addresses], nonce, expiresAt, signature])).toString('base64url');
    expect((await caught(acceptInvitation(a.db, a.node, forged, { userId: a.user.id }))).code).toBe('BAD_SIGNATURE');
    expect((await caught(acceptInvitation(a.db, a.node, p.code, { userId: a.user.id, now: () => expiresAt + 1 }))).code).toBe('EXPIRED');
    expect((await caught(acceptInvitation(p.db, p.node, p.code, { userId: a.user.id }))).code).toBe('REFUSED');
    await p.workflow.close();
    expect((await caught(p.outcome)).code).toBe('CANCELLED');
    expect((await caught(acceptInvitation(a.db, a.node, p.code, { userId: a.user.id }))).code).toBe('UNKNOWN_CHALLENGE');
    expect(peerIdFromString(p.node.peerId).toString()).toBe(decodePairingInvitation(p.code).invitee);
  });

  it('lets a pairing that claimed the nonce in time finish after the expiry: the outcome says paired, as both lists do', async () => {
    const a = await listedDevice('ayse');
    const p = await invitee(1_500);
    const invitation = decodePairingInvitation(p.code);
    const identity = readIdentity(connectionOf(a.db))!;
    const proof = base64(await identity.privateKey.sign(offerBytes(invitation.invitee, a.node.peerId, invitation.nonce)), { url: true });
    const channel = pairingChannel(await a.node.libp2p.dialProtocol(multiaddr(invitation.addresses[0]!), PAIR_INVITE_PROTOCOL));
    await channel.send(encodePairingMessage({ type: 'offer', version: PAIRING_VERSION, nonce: invitation.nonce, proof }));
    const request = decodePairRequest(await channel.next());
    // A slow authorizer: its accept comes after the invitation's timer has run out.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const challenge = { authorizer: a.node.peerId, addresses: invitation.addresses, nonce: invitation.nonce, expiresAt: invitation.expiresAt, signature: invitation.signature };
    const plan = await planPairing(a.db, { challenge, used: false, request, remotePeerId: invitation.invitee, userId: a.user.id, selfDeviceType: 'laptop', now: invitation.expiresAt - 1 });
    await channel.send(encodePairingMessage(plan.accept));
    decodePairConfirm(await channel.next());
    commitPairing(a.db, plan);
    await channel.send(encodePairingMessage({ type: 'done', version: PAIRING_VERSION }));
    await channel.close();
    expect(await p.outcome).toMatchObject({ authorizer: a.node.peerId, userName: 'ayse' });
    expect(p.node.isAuthorized(a.node.peerId)).toBe(true);
  });

  it('expires on its own: the invitee reports EXPIRED and stops listening', async () => {
    const a = await listedDevice('ayse');
    const p = await invitee(300);
    expect((await caught(p.outcome)).code).toBe('EXPIRED');
    expect((await caught(acceptInvitation(a.db, a.node, p.code, { userId: a.user.id, now: () => Date.now() - 60_000 }))).code).toBe('UNKNOWN_CHALLENGE');
  });
});
