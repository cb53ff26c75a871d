// Two pages (two browser profiles: two devices, each with its own OPFS) on one device list meet
// through a relay started here on 127.0.0.1 (WebSockets), and sync over a direct WebRTC connection:
// the page holds the RTCPeerConnection and transfers its data channels to the database worker,
// where libp2p and the sync session run (src/browser/peer-connections.ts, src/sync/web/rtc-shim.ts).
// ICE has no STUN server: host candidates on loopback only.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { initializeDatabase } from '../../src/index.ts';
import { ahenkDevices, ahenkUsers } from '../../src/schema/system.ts';
import { createRelayNode } from '../../src/sync/relay/index.ts';
import { tempDir } from '../helpers/db.ts';
import { authorizePeers } from '../net/fixtures.ts';
import { initialSyncBench } from '../../bench/browser-sync.ts';
import { schema } from './fixture/schema.ts';
import { cleanupsAfterAll, fixtureInChromium } from './chromium-fixture.ts';
import { callPage as call, chromiumMissing, openFixturePage } from './harness.ts';

const MIGRATIONS = fileURLToPath(new URL('./fixture/drizzle', import.meta.url));
/** A live edit arrives within a second; the waits allow 10x that and more on a loaded machine. */
const LIVE_WAIT_MS = 15_000;
const BULK_ROWS = 10_000;

interface Peer {
  peerId: string;
  addresses: string[];
  authorized: boolean;
  syncing: boolean;
  path: 'direct' | 'relayed';
}

/** Polls until `check` passes on the page's value, or fails with the last value seen. */
async function pollPage<T>(page: Page, name: string, check: (value: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await call<T>(page, name);
    if (check(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function countIs(page: Page, prefix: string, rows: number, timeoutMs: number): Promise<number> {
  const started = performance.now();
  const deadline = Date.now() + timeoutMs;
  while ((await call<number>(page, 'count', prefix)) < rows) {
    if (Date.now() > deadline) throw new Error(`only ${await call<number>(page, 'count', prefix)} of ${rows} ${prefix} rows after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return performance.now() - started;
}

describe.skipIf(chromiumMissing !== undefined)('two pages sync over WebRTC, meeting through a relay', () => {
  const chromium = fixtureInChromium();
  const stops = cleanupsAfterAll();

  it('converges offline writes and carries live edits both ways over a direct /webrtc connection, also once the relay is gone', { timeout: 300_000 }, async () => {
    const pages: Page[] = [];
    const pageErrors: string[] = [];
    const nodeLog: string[] = [];
    for (let i = 0; i < 2; i++) {
      const context = await chromium.newContext();
      stops.push(() => context.close());
      const page = await openFixturePage(context, chromium.origin());
      page.on('pageerror', (error) => pageErrors.push(error.message));
      // What each page's sync node logged, shown if the test fails.
      page.on('console', (message) => message.text().startsWith('[ahenk]') && nodeLog.push(`${'AB'[i]} ${message.text()}`));
      pages.push(page);
    }
    const [a, b] = pages as [Page, Page];
    const [aId, bId] = [await call<string>(a, 'deviceId'), await call<string>(b, 'deviceId')];

    // One device list for both pages, as pairing would leave it (made on a Node database here).
    const listDb = initializeDatabase(join(tempDir(), 'list.db'), { schema, migrationsFolder: MIGRATIONS });
    stops.push(() => listDb.$connection.close());
    await authorizePeers(listDb, [aId, bId]);
    for (const page of pages) await call(page, 'authorize', listDb.select().from(ahenkUsers).all(), listDb.select().from(ahenkDevices).all());

    // The relay admits both browser devices by id and listens on WebSockets only, on loopback.
    const relayLog: string[] = [];
    const stateFile = join(mkdtempSync(join(tmpdir(), 'ahenk-relay-')), 'relay.json');
    const startRelay = (listen: string) => createRelayNode({ stateFile, listenAddresses: [listen], admit: [aId, bId], statusIntervalMs: 0, log: (line) => relayLog.push(line) });
    let relay = await startRelay('/ip4/127.0.0.1/tcp/0/ws');
    let relayRunning = true;
    stops.push(() => (relayRunning ? relay.stop() : undefined));
    const relayAddress = relay.getMultiaddrs().find((address) => address.includes('/ws/'))!;
    expect(relayAddress).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/ws\/p2p\/12D3KooW/);
    const relayId = relayAddress.split('/p2p/')[1]!;

    // Offline writes on both pages, one row on both (the later write wins).
    await call(a, 'add', 'a1', 'written in A');
    await call(b, 'add', 'b1', 'written in B');
    await call(a, 'add', 'shared', 'A version');
    await call(b, 'add', 'shared', 'B version');
    await call(b, 'addBulk', 'bulk', BULK_ROWS);

    // Both reach the relay (and reserve a slot on it); A dials B through it, over WebRTC.
    for (const page of pages) await call(page, 'dial', relayAddress);
    const bOverWebRtc = `${relayAddress}/p2p-circuit/webrtc/p2p/${bId}`;
    let dialled: string | undefined;
    const dialStarted = performance.now();
    const deadline = Date.now() + 60_000;
    while (dialled === undefined) {
      // B's reservation may not be made yet; the relay then refuses the circuit: dial again.
      dialled = await call<string>(a, 'dial', bOverWebRtc).catch((error: Error) => {
        if (Date.now() > deadline) throw new Error(`A could not dial B over WebRTC: ${error.message}; relay said: ${relayLog.join(' | ')}`);
        return undefined;
      });
      if (dialled === undefined) await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(dialled).toBe(bId);
    // B's 10k rows reach A (the catch-up starts on the circuit and moves to WebRTC once it is up).
    await countIs(a, 'bulk', BULK_ROWS, 180_000);
    const catchUpMs = performance.now() - dialStarted;
    console.log(`initial sync of ${BULK_ROWS} rows page -> page over WebRTC: ${catchUpMs.toFixed(0)} ms from the first dial, ${Math.round(BULK_ROWS / (catchUpMs / 1000))} rows/s`);

    // Every row on both sides; 'shared' has B's later write.
    await call(a, 'waitForTitle', 'b1', 'written in B', 60_000);
    await call(b, 'waitForTitle', 'a1', 'written in A', 60_000);
    await call(a, 'waitForTitle', 'shared', 'B version', 60_000);
    await call(b, 'waitForTitle', 'shared', 'B version', 60_000);

    // The session runs on the direct WebRTC connection, on both sides.
    const onWebRtc = (peers: Peer[], id: string) => peers.some((p) => p.peerId === id && p.syncing && p.path === 'direct' && p.addresses.some((address) => address.endsWith(`/webrtc/p2p/${id}`)));
    await pollPage<Peer[]>(a, 'peers', (peers) => onWebRtc(peers, bId), 30_000, "A's session with B on /webrtc");
    await pollPage<Peer[]>(b, 'peers', (peers) => onWebRtc(peers, aId), 30_000, "B's session with A on /webrtc");

    // Live edits both ways.
    await call(a, 'setTitle', 'a1', 'live from A');
    const aToB = await call<number>(b, 'waitForTitle', 'a1', 'live from A', LIVE_WAIT_MS);
    await call(b, 'setTitle', 'b1', 'live from B');
    const bToA = await call<number>(a, 'waitForTitle', 'b1', 'live from B', LIVE_WAIT_MS);
    console.log(`live edit latency over WebRTC: A -> B ${aToB.toFixed(0)} ms, B -> A ${bToA.toFixed(0)} ms`);

    // The relay goes: its circuits close, the WebRTC connection stays, and live edits still cross.
    await relay.stop();
    relayRunning = false;
    const onlyWebRtc = (peers: Peer[], id: string) => {
      const peer = peers.find((p) => p.peerId === id);
      return peer !== undefined && peer.addresses.length > 0 && peer.addresses.every((address) => address.includes('/webrtc/'));
    };
    await pollPage<Peer[]>(a, 'peers', (peers) => onlyWebRtc(peers, bId), 30_000, 'A to keep only its WebRTC connection to B');
    await call(b, 'setTitle', 'a1', 'edited in B without a relay');
    await call(a, 'waitForTitle', 'a1', 'edited in B without a relay', LIVE_WAIT_MS);
    await call(a, 'setTitle', 'b1', 'edited in A without a relay');
    await call(b, 'waitForTitle', 'b1', 'edited in A without a relay', LIVE_WAIT_MS);

    // The relay comes back (same key, same port): both pages dial it again by themselves, to be reachable there again.
    relay = await startRelay(relayAddress.split('/p2p/')[0]!);
    relayRunning = true;
    for (const page of pages) await pollPage<Peer[]>(page, 'peers', (peers) => peers.some((p) => p.peerId === relayId), 90_000, 'the page to dial the relay again');

    expect(await call<string[]>(a, 'syncErrors'), nodeLog.join('\n')).toEqual([]);
    expect(await call<string[]>(b, 'syncErrors'), nodeLog.join('\n')).toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  it('refuses a stranger that reaches the page through a relay, before it holds a connection', { timeout: 180_000 }, async () => {
    const pages: Page[] = [];
    for (let i = 0; i < 2; i++) {
      const context = await chromium.newContext();
      stops.push(() => context.close());
      pages.push(await openFixturePage(context, chromium.origin()));
    }
    const [stranger, page] = pages as [Page, Page];
    const [strangerId, pageId] = [await call<string>(stranger, 'deviceId'), await call<string>(page, 'deviceId')];
    // The page's device list holds only itself; the stranger lists the page, so it would sync if let in.
    for (const [who, list] of [[page, [pageId]], [stranger, [strangerId, pageId]]] as const) {
      const listDb = initializeDatabase(join(tempDir(), 'list.db'), { schema, migrationsFolder: MIGRATIONS });
      stops.push(() => listDb.$connection.close());
      await authorizePeers(listDb, [...list]);
      await call(who, 'authorize', listDb.select().from(ahenkUsers).all(), listDb.select().from(ahenkDevices).all());
    }
    // A relay that admits both (a relay shared with others, or not Ahenk's): the gate must be the page's.
    const stateFile = join(mkdtempSync(join(tmpdir(), 'ahenk-relay-')), 'relay.json');
    const relay = await createRelayNode({ stateFile, listenAddresses: ['/ip4/127.0.0.1/tcp/0/ws'], admit: [strangerId, pageId], statusIntervalMs: 0, log: () => {} });
    stops.push(() => relay.stop());
    const relayAddress = relay.getMultiaddrs().find((address) => address.includes('/ws/'))!;
    for (const each of pages) await call(each, 'dial', relayAddress);
    // The page's reservation may not be made yet (the relay then refuses the circuit): dial until
    // the circuit reaches the page. The dialling side may see its Noise handshake finish before the
    // page, which checks last, hangs up: what counts is what the page holds after.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const outcome = await call<string>(stranger, 'dial', `${relayAddress}/p2p-circuit/p2p/${pageId}`).then(
        (id) => `connected to ${id}`,
        (error: Error) => error.message,
      );
      if (!/reservation/i.test(outcome) || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    // For two seconds after, the page never holds the stranger; the stranger's side of the refused
    // connection closes too (it may see it open for a moment, until the page's hang-up arrives).
    const pageHeld: number[] = [];
    for (let i = 0; i < 20; i++) {
      if ((await call<Peer[]>(page, 'peers')).some((p) => p.peerId === strangerId)) pageHeld.push(i);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(pageHeld).toEqual([]);
    expect((await call<Peer[]>(stranger, 'peers')).filter((p) => p.peerId === pageId && p.addresses.length > 0)).toEqual([]);
  });

  it('for comparison: the initial sync of 10k rows from a Node device into a page over WebSockets', { timeout: 300_000 }, async () => {
    const result = await initialSyncBench(chromium.browser(), BULK_ROWS, 180_000);
    expect(result.received).toBeGreaterThanOrEqual(BULK_ROWS);
    console.log(`initial sync of ${result.rows} rows Node -> page over WebSockets: ${result.wallMs.toFixed(0)} ms, ${result.rowsPerSecond} rows/s`);
  });
});
