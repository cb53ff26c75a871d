// A page pairs with a Node device: it joins with the long code the device shows (as `ahenk pair`
// prints it), or with the short code and the device's /ws address after both screens showed the
// same confirmation code; then both sync both ways. A used, forged, wrong or unreachable code
// gives the documented error codes.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eq } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { getDeviceId, initializeDatabase, registerUser } from '../../src/index.ts';
import { ahenkDevices } from '../../src/schema/system.ts';
import { createSyncNode, type SyncNode } from '../../src/sync/node/index.ts';
import { AuthorizerWorkflow } from '../../src/sync/pairing/index.ts';
import { ShortCodeOffer } from '../../src/sync/pairing/short-code.ts';
import { tempDir } from '../helpers/db.ts';
import { appDatabase, cli, PASSWORD, spawnCli } from '../cli/helpers.ts';
import { waitFor } from '../net/fixtures.ts';
import { schema, todos } from './fixture/schema.ts';
import { fixtureInChromium } from './chromium-fixture.ts';
import { callPage as call, chromiumMissing, openFixturePage } from './harness.ts';

const MIGRATIONS = fileURLToPath(new URL('./fixture/drizzle', import.meta.url));

interface Joined {
  ok: boolean;
  code?: string;
  message?: string;
  authorizer?: string;
  address?: string;
  devices?: number;
}

describe.skipIf(chromiumMissing !== undefined)('a page pairs with a Node device', () => {
  const chromium = fixtureInChromium();
  const stops: (() => unknown)[] = [];
  afterAll(async () => {
    while (stops.length > 0) await stops.pop()!();
  });

  /** A Node device with an account, listening on WebSockets on loopback. */
  async function nodeDevice(): Promise<{ db: ReturnType<typeof initializeDatabase<typeof schema>>; node: SyncNode; userId: string; ws: string }> {
    const db = initializeDatabase(join(tempDir(), 'node.db'), { schema, migrationsFolder: MIGRATIONS });
    stops.push(() => db.$connection.close());
    const user = await registerUser(db, 'ada', `ada-${Date.now()}@example.test`, 'correct horse battery');
    const node = await createSyncNode(db, { listenAddresses: ['/ip4/127.0.0.1/tcp/0/ws'], keepPort: false });
    stops.push(() => node.stop());
    return { db, node, userId: user.id, ws: node.getMultiaddrs().find((a) => a.includes('/ws/'))! };
  }

  async function newPage() {
    const context = await chromium.newContext();
    stops.push(() => context.close());
    return openFixturePage(context, chromium.origin());
  }

  it('joins with the long code, is listed on both sides, syncs both ways; the used code and forged codes are refused', { timeout: 180_000 }, async () => {
    const device = await nodeDevice();
    const nodeId = getDeviceId(device.db);
    device.db.insert(todos).values({ id: 'n1', title: 'on Node before pairing' }).run();
    const workflow = new AuthorizerWorkflow(device.db, device.node, { userId: device.userId, deviceType: 'laptop' });
    stops.push(() => workflow.close());
    await workflow.createChallenge();
    const code = workflow.getQrCodeString();
    const paired = workflow.waitForResponse();

    const page = await newPage();
    const pageId = await call<string>(page, 'deviceId');
    const joined = await call<Joined>(page, 'join', code);
    expect(joined).toMatchObject({ ok: true, authorizer: nodeId, userId: device.userId, userName: 'ada', devices: 2 });
    expect(joined.address).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/ws\/p2p\/12D3KooW/);
    expect(await paired).toMatchObject({ peerId: pageId, deviceType: 'browser' });
    expect(device.db.select({ peerId: ahenkDevices.peerId }).from(ahenkDevices).all().map((d) => d.peerId).sort()).toEqual([nodeId, pageId].sort());
    expect((await call<string[]>(page, 'devices')).sort()).toEqual([nodeId, pageId].sort());

    // Sync both ways, with no dial of its own: the pairing's connection is kept.
    await call(page, 'waitForTitle', 'n1', 'on Node before pairing', 30_000);
    await call(page, 'add', 'p1', 'added in the page');
    await waitFor(() => device.db.select().from(todos).where(eq(todos.id, 'p1')).get()?.title === 'added in the page', 30_000, 'the page row on Node');
    device.db.update(todos).set({ title: 'edited on Node' }).where(eq(todos.id, 'n1')).run();
    await call(page, 'waitForTitle', 'n1', 'edited on Node', 30_000);

    // The same code again, from another browser profile: used.
    const other = await newPage();
    expect(await call<Joined>(other, 'join', code)).toMatchObject({ ok: false, name: 'PairingError', code: 'UNKNOWN_CHALLENGE' });
    // A code whose addresses were changed on its way no longer carries its device's signature.
    await workflow.createChallenge();
    const fresh = workflow.getQrCodeString();
    const [authorizer, addresses, nonce, expiresAt, signature] = JSON.parse(Buffer.from(fresh.slice('ahenk-pair:1:'.length), 'base64url').toString()) as [string, string[], string, number, string];
    const forged = 'ahenk-pair:1:' + Buffer.from(JSON.stringify([authorizer, ['/ip4/127.0.0.1/tcp/9/ws', ...addresses], nonce, expiresAt + 60_000, signature])).toString('base64url');
    expect(await call<Joined>(other, 'join', forged)).toMatchObject({ ok: false, code: 'BAD_SIGNATURE' });
    expect(await call<Joined>(other, 'join', 'ahenk-pair:1:not-json')).toMatchObject({ ok: false, code: 'INVALID_QR' });
    expect(await call<Joined>(other, 'join', 'hello')).toMatchObject({ ok: false, code: 'INVALID_QR' });
    expect(await call<string[]>(other, 'devices')).toEqual([]);
  });

  it('joins with the code `ahenk pair` prints, which carries its WebSocket address', { timeout: 180_000 }, async () => {
    const dir = tempDir();
    const laptop = appDatabase(dir, 'laptop');
    expect((await cli(['init', '--db', laptop, '--user', 'ayse', '--email', 'ayse@example.test', '--device-type', 'laptop'], { env: { AHENK_PASSWORD: PASSWORD } })).code).toBe(0);
    const pair = spawnCli(['pair', '--db', laptop, '--listen', '/ip4/127.0.0.1/tcp/0', '--listen', '/ip4/127.0.0.1/tcp/0/ws']);
    const code = await pair.line(/^ahenk-pair:1:/);
    expect(await pair.line(/^A web page joins with the same code/)).toMatch(/it dials \/ip4\/127\.0\.0\.1\/tcp\/\d+\/ws\/p2p\/12D3KooW\w+$/);
    const page = await newPage();
    const pageId = await call<string>(page, 'deviceId');
    expect(await call<Joined>(page, 'join', code)).toMatchObject({ ok: true, userName: 'ayse', devices: 2 });
    // `pair` waits for the first sync with the page, then exits 0.
    expect(await pair.exited).toBe(0);
    expect(pair.stdout()).toContain(`Paired: browser ${pageId} joined ayse.`);
    expect(pair.stdout()).toMatch(/^First sync with \S+ complete/m);
  });

  it('says UNREACHABLE for a code with no WebSocket address and for a device that is gone', { timeout: 120_000 }, async () => {
    const device = await nodeDevice();
    const tcpOnly = new AuthorizerWorkflow(device.db, device.node, { userId: device.userId, addresses: ['/ip4/127.0.0.1/tcp/9'] });
    stops.push(() => tcpOnly.close());
    await tcpOnly.createChallenge();
    const page = await newPage();
    const noWs = await call<Joined>(page, 'join', tcpOnly.getQrCodeString());
    expect(noWs).toMatchObject({ ok: false, code: 'UNREACHABLE' });
    expect(noWs.message).toContain('/ws');
    await tcpOnly.close();

    const workflow = new AuthorizerWorkflow(device.db, device.node, { userId: device.userId });
    await workflow.createChallenge();
    const code = workflow.getQrCodeString();
    await device.node.stop();
    expect(await call<Joined>(page, 'join', code)).toMatchObject({ ok: false, code: 'UNREACHABLE' });
    expect(await call<string[]>(page, 'devices')).toEqual([]);
  });

  it('joins with the short code after both screens show the same confirmation code; a wrong short code is BAD_CODE', { timeout: 180_000 }, async () => {
    const device = await nodeDevice();
    const workflow = new AuthorizerWorkflow(device.db, device.node, { userId: device.userId });
    stops.push(() => workflow.close());
    await workflow.createChallenge();
    const shown: string[] = [];
    const offer = new ShortCodeOffer(device.node, {
      pairingCode: () => workflow.getQrCodeString(),
      compare: async ({ confirmation }) => (shown.push(confirmation), true),
    });
    stops.push(() => offer.close());
    await offer.start();
    const page = await newPage();

    const wrong = offer.code.startsWith('0') ? `1${offer.code.slice(1)}` : `0${offer.code.slice(1)}`;
    expect(await call<Joined>(page, 'join', wrong, { from: device.ws, answer: true })).toMatchObject({ ok: false, code: 'BAD_CODE' });
    expect(await call<Joined>(page, 'join', offer.code, {})).toMatchObject({ ok: false, code: 'INVALID_QR' });
    expect(await call<Joined>(page, 'join', offer.code, { from: device.ws.replace('/ws', ''), answer: true })).toMatchObject({ ok: false, code: 'UNREACHABLE' });

    const joined = await call<Joined>(page, 'join', offer.code.toLowerCase(), { from: device.ws, answer: true });
    expect(joined).toMatchObject({ ok: true, authorizer: getDeviceId(device.db) });
    const confirmations = await call<string[]>(page, 'confirmations');
    expect(confirmations).toHaveLength(1);
    expect(confirmations[0]).toMatch(/^\d{3}-\d{3}$/);
    expect(shown).toEqual(confirmations);
    await workflow.waitForResponse();
    await call(page, 'add', 'p1', 'after a short code');
    await waitFor(() => device.db.select().from(todos).where(eq(todos.id, 'p1')).get() !== undefined, 30_000, 'the page row on Node');
  });

  it('says no at the confirmation code: the pairing is refused and the page is not listed', { timeout: 120_000 }, async () => {
    const device = await nodeDevice();
    const workflow = new AuthorizerWorkflow(device.db, device.node, { userId: device.userId });
    stops.push(() => workflow.close());
    await workflow.createChallenge();
    const offer = new ShortCodeOffer(device.node, { pairingCode: () => workflow.getQrCodeString(), compare: async () => true });
    stops.push(() => offer.close());
    await offer.start();
    const page = await newPage();
    expect(await call<Joined>(page, 'join', offer.code, { from: device.ws, answer: false })).toMatchObject({ ok: false, code: 'REFUSED' });
    expect(await call<string[]>(page, 'devices')).toEqual([]);
    expect(device.db.select().from(ahenkDevices).all()).toEqual([]);
  });
});
