/**
 * Admission by join token on 127.0.0.1: a device presents the relay's token once
 * (`joinRelay`, /ahenk/relay-admit/1.0.0) and is admitted; a stranger without it is refused (no
 * reservation, no circuit, hung up after the join window); wrong tokens are refused and bounded;
 * a revoked device's reservation and circuits close on the running relay and the token does not
 * let it back. Devices are real sync nodes.
 */
import '../../src/sync/node/polyfill.ts';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import type { Libp2p } from '@libp2p/interface';
import { tcp } from '@libp2p/tcp';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p } from 'libp2p';
import { afterEach, describe, expect, it } from 'vitest';
import { getDeviceId } from '../../src/database/identity.ts';
import { createRelayNode, joinRelay, type RelayNode } from '../../src/sync/relay/index.ts';
import { createSyncNode, type SyncNode } from '../../src/sync/node/index.ts';
import { generateJoinToken, isJoinTokenShaped } from '../../src/sync/relay/token.ts';
import { openDevice, tempDir } from '../helpers/db.ts';
import { todos } from '../helpers/schema.ts';
import { authorizePeers, waitFor } from '../net/fixtures.ts';
import { pairedDevices } from './helpers.ts';

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(stops.splice(0).map((stop) => stop()));
});

type Device = ReturnType<typeof openDevice>;

async function relay(stateFile = join(tempDir(), 'relay.json'), joinWindowMs = 1_500): Promise<RelayNode> {
  const node = await createRelayNode({ stateFile, listenAddresses: ['/ip4/127.0.0.1/tcp/0'], statusIntervalMs: 0, joinWindowMs });
  stops.push(() => node.stop());
  return node;
}

async function device(db: Device, relayAddress: string): Promise<SyncNode> {
  const node = await createSyncNode(db, { listenAddresses: ['/ip4/127.0.0.1/tcp/0'], relayServers: [relayAddress], announce: 'relayed', reconnectInitialDelayMs: 200 });
  stops.push(() => node.stop());
  return node;
}

const pair = pairedDevices;

/** libp2p refuses a host's sixth connection within a second (inboundConnectionThreshold): space the joins. */
/** Longer than libp2p's one-second window of 5 inbound connections per host (every test device is 127.0.0.1). */
const pause = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 1_100));
const reserved = (node: SyncNode): boolean => node.getMultiaddrs().some((m) => m.includes('/p2p-circuit'));
const rows = (db: Device): bigint => db.$connection.prepare('SELECT count(*) FROM todos').value() as bigint;

describe('admission by join token', () => {
  it('makes a token at first start, keeps it in the 0600 state file, and rotates it', async () => {
    const stateFile = join(tempDir(), 'relay.json');
    const first = await relay(stateFile);
    expect(first.joinTokenCreated).toBe(true);
    expect(isJoinTokenShaped(first.joinToken)).toBe(true);
    expect(statSync(stateFile).mode & 0o777).toBe(0o600);
    const token = first.joinToken;
    await first.stop();
    const second = await relay(stateFile);
    expect(second.joinTokenCreated).toBe(false);
    expect(second.joinToken).toBe(token);
    const rotated = second.rotateJoinToken();
    expect(rotated).not.toBe(token);
    expect((JSON.parse(readFileSync(stateFile, 'utf8')) as { joinToken: string }).joinToken).toBe(rotated);
    await second.stop();

    // A state file from before join tokens (version 1) keeps its key and admitted devices and gets a token.
    const v1 = join(tempDir(), 'relay-v1.json');
    const saved = JSON.parse(readFileSync(stateFile, 'utf8')) as { privateKey: string; admitted: unknown[] };
    writeFileSync(v1, JSON.stringify({ version: 1, privateKey: saved.privateKey, admitted: saved.admitted }), { mode: 0o600 });
    const upgraded = await relay(v1);
    expect(upgraded.peerId).toBe(second.peerId);
    expect(upgraded.joinTokenCreated).toBe(true);
    expect((JSON.parse(readFileSync(v1, 'utf8')) as { version: number; joinToken: string })).toMatchObject({ version: 2, joinToken: upgraded.joinToken });
  });

  it('a stranger without the token neither reserves nor opens a circuit, and is hung up on after the join window', async () => {
    const [a] = await pair();
    const stranger = openDevice('stranger');
    await authorizePeers(stranger, [getDeviceId(a)]);
    const server = await relay();
    const address = server.getMultiaddrs()[0]!;
    await joinRelay(a, { relay: address, token: server.joinToken });
    const na = await device(a, address);
    await waitFor(() => reserved(na), 10_000, 'a reservation for the device that joined');
    const circuit = na.getMultiaddrs().find((m) => m.includes('/p2p-circuit'))!;

    const ns = await device(stranger, address);
    await waitFor(() => server.stats().refused.reservations > 0, 10_000, 'the relay to refuse the stranger a reservation');
    expect(reserved(ns)).toBe(false);
    await expect(ns.dial(circuit)).rejects.toThrow();
    expect(server.stats().circuitsTotal).toBe(0);
    // The join window (1.5 s here) passes and the relay hangs up on the stranger (it redials: wait for a moment with no connection).
    await waitFor(() => !server.libp2p.getConnections().some((c) => c.remotePeer.toString() === ns.peerId), 15_000, 'the stranger to be hung up on');
    expect(server.isAdmitted(ns.peerId)).toBe(false);
  });

  it('lets at most 16 strangers in at once to present the token; more are refused at the door', { timeout: 60_000 }, async () => {
    const server = await relay(join(tempDir(), 'relay.json'), 30_000);
    const address = multiaddr(server.getMultiaddrs()[0]!);
    const clients: Libp2p[] = [];
    stops.push(() => Promise.all(clients.map((c) => c.stop())).then(() => {}));
    const results: boolean[] = [];
    for (let i = 0; i < 17; i++) {
      const client = await createLibp2p({ transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()], connectionGater: { denyDialMultiaddr: () => false } });
      clients.push(client);
      results.push(await client.dial(address).then(() => true, () => false));
      await pause();
    }
    await waitFor(() => server.stats().refused.connections === 1, 10_000, 'the seventeenth stranger to be refused');
    expect(results.slice(0, 16).every(Boolean)).toBe(true);
    const held = server.libp2p.getConnections().filter((c) => !server.isAdmitted(c.remotePeer.toString()));
    expect(held.length).toBe(16);
  });

  it("forgets a stranger's join window when its connection closes first", async () => {
    const server = await relay(join(tempDir(), 'relay.json'), 30_000);
    const address = multiaddr(server.getMultiaddrs()[0]!);
    const client = await createLibp2p({ transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()], connectionGater: { denyDialMultiaddr: () => false } });
    stops.push(async () => {
      await client.stop();
    });
    for (let i = 0; i < 3; i++) {
      await client.dial(address);
      await waitFor(() => server.strangersWaiting === 1, 10_000, 'the join window to start');
      await client.hangUp(multiaddr(server.getMultiaddrs()[0]!));
      await waitFor(() => server.libp2p.getConnections().length === 0, 10_000, 'the relay to see the connection close');
      await pause();
    }
    // Each window went with its connection, not 30 s later (a peer connecting and leaving in a loop held them all).
    expect(server.strangersWaiting).toBe(0);
  });

  it('refuses wrong tokens and bounds the attempts per address, even for the right token after that', async () => {
    const server = await relay();
    const address = server.getMultiaddrs()[0]!;
    const guesser = openDevice('guesser');
    let wrong = generateJoinToken();
    while (wrong === server.joinToken) wrong = generateJoinToken();
    for (let i = 0; i < 5; i++) {
      await expect(joinRelay(guesser, { relay: address, token: wrong })).rejects.toMatchObject({ name: 'RelayAdmissionError', reason: 'WRONG_TOKEN' });
      await pause();
    }
    await expect(joinRelay(guesser, { relay: address, token: server.joinToken })).rejects.toMatchObject({ name: 'RelayAdmissionError', reason: 'RATE_LIMITED' });
    await pause();
    // A new key from the same address is bounded all the same.
    await expect(joinRelay(openDevice('another'), { relay: address, token: server.joinToken })).rejects.toMatchObject({ reason: 'RATE_LIMITED' });
    expect(server.isAdmitted(getDeviceId(guesser))).toBe(false);
    expect(server.stats().refused.joins).toBe(7);
    await expect(joinRelay(guesser, { relay: address, token: 'not a token' })).rejects.toMatchObject({ name: 'NodeConfigError' });
  });

  it('admits the devices that present the token: they reserve and sync through the relay', async () => {
    const [a, b] = await pair();
    const server = await relay();
    const address = server.getMultiaddrs()[0]!;
    expect(await joinRelay(a, { relay: address, token: server.joinToken.toUpperCase() })).toEqual({ relayId: server.peerId, deviceId: getDeviceId(a) });
    await joinRelay(b, { relay: address, token: server.joinToken });
    expect(server.admitted().map((p) => p.peerId).sort()).toEqual([getDeviceId(a), getDeviceId(b)].sort());
    // Presenting it again is harmless.
    await joinRelay(b, { relay: address, token: server.joinToken });

    a.insert(todos).values({ id: 'from-a', title: 'through the relay' }).run();
    const na = await device(a, address);
    const nb = await device(b, address);
    await waitFor(() => reserved(na) && reserved(nb), 10_000, 'both reservations');
    await waitFor(() => rows(b) === 1n, 30_000, 'the row to reach b');
    expect(nb.peers().find((p) => p.peerId === na.peerId)?.path).toBe('relayed');
    expect(server.stats().circuitsTotal).toBeGreaterThan(0);
  });

  it('revoke on the running relay closes the reservation and circuits, and the token does not re-admit the device', async () => {
    const [a, b] = await pair();
    const server = await relay();
    const address = server.getMultiaddrs()[0]!;
    await joinRelay(a, { relay: address, token: server.joinToken });
    await joinRelay(b, { relay: address, token: server.joinToken });
    const na = await device(a, address);
    const nb = await device(b, address);
    await waitFor(() => na.peers().some((p) => p.peerId === nb.peerId), 30_000, 'a relayed connection between the devices');

    await server.revoke(nb.peerId);
    await waitFor(() => !na.peers().some((p) => p.peerId === nb.peerId), 10_000, 'the circuit between them to close');
    await waitFor(() => server.stats().reservations === 1, 10_000, "b's reservation to go");
    // b's node keeps dialling the relay as a stranger; stop it so the joins below are not over libp2p's per-host connection rate.
    await nb.stop();
    await pause();
    await expect(joinRelay(b, { relay: address, token: server.joinToken })).rejects.toMatchObject({ reason: 'REVOKED' });
    await pause();
    // The operator's word admits it again.
    server.admit(nb.peerId);
    await expect(joinRelay(b, { relay: address, token: server.joinToken })).resolves.toMatchObject({ deviceId: nb.peerId });
  });
});
