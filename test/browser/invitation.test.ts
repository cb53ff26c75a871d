// A page that is not on the list shows an invitation as a QR code (reached through a relay on
// 127.0.0.1); a Node device on the list accepts it, by the API and by `ahenk accept`; the page is
// then on the list on both sides and a row syncs both ways. A used, a forged and an expired
// invitation are refused with their codes. A screenshot of the page with its QR code is kept.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { multiaddr } from '@multiformats/multiaddr';
import { eq } from 'drizzle-orm';
import jsqr from 'jsqr';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { acceptInvitation, getDeviceId, initializeDatabase, registerUser } from '../../src/index.ts';
import { ahenkDevices } from '../../src/schema/system.ts';
import { createSyncNode } from '../../src/sync/node/index.ts';
import { createRelayNode, type RelayNode } from '../../src/sync/relay/index.ts';
import { tempDir } from '../helpers/db.ts';
import { appDatabase, cli, PASSWORD, spawnCli } from '../cli/helpers.ts';
import { waitFor } from '../net/fixtures.ts';
import { schema, todos } from './fixture/schema.ts';
import { cleanupsAfterAll, fixtureInChromium } from './chromium-fixture.ts';
import { artifactPath, callPage as call, chromiumMissing, openFixturePage } from './harness.ts';

// jsqr is CommonJS: its default export is the function under Node's ESM loader, `.default` under vitest's.
const jsQR: typeof jsqr.default = (jsqr as { default?: typeof jsqr.default }).default ?? (jsqr as unknown as typeof jsqr.default);
// Node 22 (package.json's engines) has a global WebSocket, which libp2p's WebSockets transport dials
// with; Node 20 (still on some test machines) has it only behind a flag: lend it ws's, as
// test/sync/node-websockets.test.ts does. The CLI child process dials the relay over TCP instead.
if (typeof globalThis.WebSocket === 'undefined') {
  (globalThis as { WebSocket?: unknown }).WebSocket = ((await import('ws' as string)) as { WebSocket: unknown }).WebSocket;
}

const MIGRATIONS = fileURLToPath(new URL('./fixture/drizzle', import.meta.url));

interface Shown {
  ok: boolean;
  code: string;
  svg: string;
  expiresAt: number;
  addresses: string[];
}

interface Outcome {
  ok: boolean;
  code?: string;
  userName?: string;
  authorizer?: string;
  devices?: number;
}

async function waitForAsync(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe.skipIf(chromiumMissing !== undefined)('a page shows an invitation that a device on the list accepts', () => {
  const chromium = fixtureInChromium();
  const stops = cleanupsAfterAll();

  async function newPage(): Promise<{ page: Page; id: string }> {
    const context = await chromium.newContext();
    stops.push(() => context.close());
    const page = await openFixturePage(context, chromium.origin());
    return { page, id: await call<string>(page, 'deviceId') };
  }

  /** A relay on 127.0.0.1 (WebSockets and TCP) admitting `admit`; its /ws and TCP addresses. */
  async function relayFor(admit: string[]): Promise<{ relay: RelayNode; address: string; tcp: string }> {
    const stateFile = join(mkdtempSync(join(tmpdir(), 'ahenk-relay-')), 'relay.json');
    const relay = await createRelayNode({ stateFile, listenAddresses: ['/ip4/127.0.0.1/tcp/0/ws', '/ip4/127.0.0.1/tcp/0'], admit, statusIntervalMs: 0, log: () => {} });
    stops.push(() => relay.stop());
    const addresses = relay.getMultiaddrs();
    return { relay, address: addresses.find((a) => a.includes('/ws/'))!, tcp: addresses.find((a) => !a.includes('/ws/'))! };
  }

  it('renders a QR code that decodes to the invitation; the Node API accepts it; both list the page and a row syncs both ways; used, forged and expired invitations are refused', { timeout: 240_000 }, async () => {
    const db = initializeDatabase(join(tempDir(), 'node.db'), { schema, migrationsFolder: MIGRATIONS });
    stops.push(() => db.$connection.close());
    const user = await registerUser(db, 'ada', `ada-${Date.now()}@example.test`, 'correct horse battery');
    const node = await createSyncNode(db, { listenAddresses: ['/ip4/127.0.0.1/tcp/0'], keepPort: false });
    stops.push(() => node.stop());
    const nodeId = getDeviceId(db);
    db.insert(todos).values({ id: 'n1', title: 'on Node before pairing' }).run();

    const { page, id: pageId } = await newPage();
    const second = await newPage();
    // The second page is not admitted by id: it presents the relay's join token with its invitation.
    const { relay: relayNode, address: relay } = await relayFor([pageId, nodeId]);

    const shown = await call<Shown>(page, 'invite', relay);
    expect(shown).toMatchObject({ ok: true });
    expect(shown.code).toMatch(/^ahenk-invite:1:[A-Za-z0-9_-]+$/);
    // The page's circuit addresses through the relay (each address the relay announces), its /ws one among them.
    expect(shown.addresses.length).toBeGreaterThan(0);
    expect(shown.addresses.every((a) => a.endsWith(`/p2p/${relay.split('/p2p/')[1]}/p2p-circuit/p2p/${pageId}`))).toBe(true);
    expect(shown.addresses).toContain(`${relay}/p2p-circuit/p2p/${pageId}`);
    expect(shown.svg).toMatch(/^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    // What a camera would read: the SVG as the page shows it, drawn on a canvas, decoded by jsQR.
    const pixels = await call<{ width: number; height: number; data: number[] }>(page, 'qrPixels', 4);
    expect(jsQR(Uint8ClampedArray.from(pixels.data), pixels.width, pixels.height)?.data).toBe(shown.code);
    await page.screenshot({ path: artifactPath('page-invitation-qr.png'), fullPage: true });
    const modules = Number(/viewBox="0 0 (\d+) /.exec(shown.svg)?.[1]) - 4;
    console.log(`page invitation: ${shown.code.length} characters, ${shown.addresses.length} addresses, a ${modules}x${modules} QR code (version ${(modules - 17) / 4})`);

    const device = await acceptInvitation(db, node, shown.code, { userId: user.id, deviceType: 'laptop' });
    expect(device).toEqual({ peerId: pageId, deviceType: 'browser', userId: user.id });
    expect(await call<Outcome>(page, 'invitationOutcome')).toMatchObject({ ok: true, userName: 'ada', authorizer: nodeId, devices: 2 });
    expect(db.select({ peerId: ahenkDevices.peerId }).from(ahenkDevices).all().map((d) => d.peerId).sort()).toEqual([nodeId, pageId].sort());
    expect((await call<string[]>(page, 'devices')).sort()).toEqual([nodeId, pageId].sort());

    // Sync both ways over the relay's circuit, with no dial of the page's own.
    await call(page, 'waitForTitle', 'n1', 'on Node before pairing', 30_000);
    await call(page, 'add', 'p1', 'added in the page');
    await waitFor(() => db.select().from(todos).where(eq(todos.id, 'p1')).get()?.title === 'added in the page', 30_000, 'the page row on Node');
    db.update(todos).set({ title: 'edited on Node' }).where(eq(todos.id, 'n1')).run();
    await call(page, 'waitForTitle', 'n1', 'edited on Node', 30_000);

    // Used: the page no longer shows it.
    await expect(acceptInvitation(db, node, shown.code, { userId: user.id })).rejects.toMatchObject({ name: 'PairingError', code: 'UNKNOWN_CHALLENGE' });
    // On a list now, the page shows no invitation: whoever accepted it would get the page's data, ada's included.
    expect(await call<Shown>(page, 'invite', relay)).toMatchObject({ ok: false, name: 'PairingError', code: 'REFUSED' });

    // Forged: another page's invitation with its expiry pushed back no longer carries its signature;
    // refused before anything is dialled, and the page goes on waiting for the real device.
    expect(await call<Shown>(second.page, 'invite', relay, 60_000, 'a'.repeat(32))).toMatchObject({ ok: false, name: 'RelayAdmissionError' });
    const other = await call<Shown>(second.page, 'invite', relay, 60_000, relayNode.joinToken);
    expect(other).toMatchObject({ ok: true });
    expect(relayNode.isAdmitted(second.id)).toBe(true);
    const [invitee, addresses, nonce, expiresAt, signature] = JSON.parse(Buffer.from(other.code.slice('ahenk-invite:1:'.length), 'base64url').toString()) as [string, string[], string, number, string];
    const forged = 'ahenk-invite:1:' + Buffer.from(JSON.stringify([invitee, addresses, nonce, expiresAt + 600_000, signature])).toString('base64url');
    await expect(acceptInvitation(db, node, forged, { userId: user.id })).rejects.toMatchObject({ code: 'BAD_SIGNATURE' });
    await expect(acceptInvitation(db, node, 'ahenk-invite:1:not-json', { userId: user.id })).rejects.toMatchObject({ code: 'INVALID_QR' });
    // A challenge (ahenk-pair:1:) is not an invitation, and the other way round.
    await expect(acceptInvitation(db, node, other.code.replace('ahenk-invite:1:', 'ahenk-pair:1:'), { userId: user.id })).rejects.toMatchObject({ code: 'INVALID_QR' });

    // Expired: refused by the accepting device before it dials; and when that device's clock is
    // behind, by the page: its timer spent the nonce, and showing no invitation it admits no
    // device that is not on its list (the connection is refused after Noise: UNREACHABLE).
    const short = await call<Shown>(second.page, 'invite', relay, 1_500);
    expect(await call<Outcome>(second.page, 'invitationOutcome')).toMatchObject({ ok: false, code: 'EXPIRED' });
    await expect(acceptInvitation(db, node, short.code, { userId: user.id })).rejects.toMatchObject({ code: 'EXPIRED' });
    await expect(acceptInvitation(db, node, short.code, { userId: user.id, now: () => short.expiresAt - 1_000 })).rejects.toMatchObject({ code: 'UNREACHABLE' });
    expect(await call<string[]>(second.page, 'devices')).toEqual([]);
    expect(db.select().from(ahenkDevices).all()).toHaveLength(2);
  });

  it('lets at most 4 devices that are not on the list connect in while the invitation is shown, and closes and refuses them once it ends', { timeout: 180_000 }, async () => {
    const { page, id: pageId } = await newPage();
    const strangers = await Promise.all(
      Array.from({ length: 5 }, async (_, i) => {
        const db = initializeDatabase(join(tempDir(), `stranger-${i}.db`), { schema, migrationsFolder: MIGRATIONS });
        stops.push(() => db.$connection.close());
        const node = await createSyncNode(db, { listenAddresses: ['/ip4/127.0.0.1/tcp/0'], keepPort: false, reconnect: false });
        stops.push(() => node.stop());
        return node;
      }),
    );
    const { address: relay, tcp } = await relayFor([pageId, ...strangers.map((n) => n.peerId)]);
    expect(await call<Shown>(page, 'invite', relay)).toMatchObject({ ok: true });
    const circuit = multiaddr(`${tcp}/p2p-circuit/p2p/${pageId}`);
    const held = async () => (await call<{ peerId: string }[]>(page, 'peers')).filter((p) => strangers.some((n) => n.peerId === p.peerId)).length;
    const outcomes: string[] = [];
    for (const stranger of strangers) {
      outcomes.push(await stranger.libp2p.dial(circuit).then(() => 'connected', (error: Error) => error.name));
      // Paced: the relay takes a handful of new connections a second from one host.
      await new Promise((resolve) => setTimeout(resolve, 400));
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(outcomes.slice(0, 4)).toEqual(['connected', 'connected', 'connected', 'connected']);
    expect(await held()).toBe(4);

    await call(page, 'cancelInvitation');
    expect(await call<Outcome>(page, 'invitationOutcome')).toMatchObject({ ok: false, code: 'CANCELLED' });
    await waitForAsync(async () => (await held()) === 0, 10_000, 'the strangers closed');
    await strangers[0]!.libp2p.dial(circuit).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await held()).toBe(0);
  });

  /** A Node device on no list, with its node (the relay must admit it by id). */
  async function strangerNode(name: string) {
    const db = initializeDatabase(join(tempDir(), `${name}.db`), { schema, migrationsFolder: MIGRATIONS });
    stops.push(() => db.$connection.close());
    const node = await createSyncNode(db, { listenAddresses: ['/ip4/127.0.0.1/tcp/0'], keepPort: false, reconnect: false });
    stops.push(() => node.stop());
    return node;
  }

  it('closes a stranger that claims nothing within 10 s while the invitation is still shown; the real device then pairs', { timeout: 180_000 }, async () => {
    const { page, id: pageId } = await newPage();
    const stranger = await strangerNode('idle-stranger');
    const db = initializeDatabase(join(tempDir(), 'node.db'), { schema, migrationsFolder: MIGRATIONS });
    stops.push(() => db.$connection.close());
    const user = await registerUser(db, 'ada', `ada-${Date.now()}@example.test`, 'correct horse battery');
    const node = await createSyncNode(db, { listenAddresses: ['/ip4/127.0.0.1/tcp/0'], keepPort: false });
    stops.push(() => node.stop());
    const { address: relay, tcp } = await relayFor([pageId, stranger.peerId, getDeviceId(db)]);
    const shown = await call<Shown>(page, 'invite', relay, 120_000);
    expect(shown).toMatchObject({ ok: true });
    const strangerHeld = async () => (await call<{ peerId: string }[]>(page, 'peers')).some((p) => p.peerId === stranger.peerId);
    const connectedAt = Date.now();
    await stranger.libp2p.dial(multiaddr(`${tcp}/p2p-circuit/p2p/${pageId}`));
    await waitForAsync(strangerHeld, 5_000, 'the stranger connected');
    // It holds its slot without presenting anything: the page closes it, the invitation still shown.
    await waitForAsync(async () => !(await strangerHeld()), 20_000, 'the idle stranger closed');
    expect(Date.now() - connectedAt).toBeGreaterThanOrEqual(9_000);
    const device = await acceptInvitation(db, node, shown.code, { userId: user.id });
    expect(device.peerId).toBe(pageId);
    expect(await call<Outcome>(page, 'invitationOutcome')).toMatchObject({ ok: true, userName: 'ada' });
  });

  it('lends a stranger no WebRTC signalling while the invitation is shown (each attempt would take one of the page\'s peer connections)', { timeout: 180_000 }, async () => {
    const { page, id: pageId } = await newPage();
    const other = await newPage();
    const { address: relay } = await relayFor([pageId, other.id]);
    expect(await call<Shown>(page, 'invite', relay, 120_000)).toMatchObject({ ok: true });
    await call(other.page, 'dial', relay);
    const overWebRtc = `${relay}/p2p-circuit/webrtc/p2p/${pageId}`;
    const outcome = await call<string>(other.page, 'dial', overWebRtc).then(
      () => 'connected',
      (error: Error) => error.message,
    );
    expect(outcome).not.toBe('connected');
    const peers = await call<{ peerId: string; addresses: string[] }[]>(page, 'peers');
    expect(peers.filter((p) => p.peerId === other.id).flatMap((p) => p.addresses).filter((a) => a.includes('/webrtc'))).toEqual([]);
  });

  it('`ahenk accept <code>` pairs the page and waits for the first sync', { timeout: 180_000 }, async () => {
    const dir = tempDir();
    const laptop = appDatabase(dir, 'laptop', { id: 'l1', title: 'on the laptop' });
    expect((await cli(['init', '--db', laptop, '--user', 'ayse', '--email', 'ayse@example.test', '--device-type', 'laptop'], { env: { AHENK_PASSWORD: PASSWORD } })).code).toBe(0);
    const opened = initializeDatabase(laptop);
    const laptopId = getDeviceId(opened);
    opened.$connection.close();
    const { page, id: pageId } = await newPage();
    const { address: relay, tcp } = await relayFor([pageId, laptopId]);
    const shown = await call<Shown>(page, 'invite', relay);
    expect(shown.ok).toBe(true);
    const accept = spawnCli(['accept', shown.code, '--db', laptop, '--listen', '/ip4/127.0.0.1/tcp/0', '--relay', tcp]);
    // The circuit to the page goes through the connection the device already holds to its relay (TCP here).
    const code = await accept.exited;
    expect({ code, stderr: accept.stderr() }).toMatchObject({ code: 0 });
    expect(accept.stdout()).toContain(`Paired: browser ${pageId} joined ayse.`);
    expect(accept.stdout()).toMatch(/^First sync with \S+ complete/m);
    expect(await call<Outcome>(page, 'invitationOutcome')).toMatchObject({ ok: true, userName: 'ayse', authorizer: laptopId });
    await call(page, 'waitForTitle', 'l1', 'on the laptop', 30_000);
  });
});
