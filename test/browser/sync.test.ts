// A page's database syncs with a Node device over WebSockets: libp2p (WebSockets, Noise, Yamux)
// in the page's database worker, a Node SyncNode listening on /ws on 127.0.0.1. Offline writes on
// both sides converge, live edits cross both ways, and after a reload the data is there and sync
// resumes from the cursor. With two tabs, the node runs in the leader's worker and a new leader
// dials again for the tab that had dialled.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eq } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { getDeviceId, initializeDatabase } from '../../src/index.ts';
import { ahenkDevices, ahenkUsers } from '../../src/schema/system.ts';
import { createSyncNode, type SyncNode } from '../../src/sync/node/index.ts';
import { tempDir } from '../helpers/db.ts';
import { authorizePeers, waitFor } from '../net/fixtures.ts';
import { initialSyncBench } from '../../bench/browser-sync.ts';
import { schema, todos } from './fixture/schema.ts';
import { fixtureInChromium } from './chromium-fixture.ts';
import { artifactPath, callPage, chromiumMissing, openFixturePage, pageReady } from './harness.ts';

const MIGRATIONS = fileURLToPath(new URL('./fixture/drizzle', import.meta.url));
/** A live edit must arrive within a second; the waits allow 10x that on a loaded machine, and the measured latency is printed. */
const LIVE_WAIT_MS = 10_000;

const call = callPage;

const ready = pageReady;

describe.skipIf(chromiumMissing !== undefined)('a page syncs with a Node device over WebSockets', () => {
  const chromium = fixtureInChromium();
  const stops: (() => unknown)[] = [];

  afterAll(async () => {
    while (stops.length > 0) await stops.pop()!();
  });

  it('converges offline writes, carries live edits both ways, and resumes from the cursor after a reload', { timeout: 180_000 }, async () => {
    const context = await chromium.newContext();
    stops.push(() => context.close());
    const page = await openFixturePage(context, chromium.origin());
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    const pageId = await call<string>(page, 'deviceId');

    // The Node device, listening on WebSockets only, on loopback.
    const nodeDb = initializeDatabase(join(tempDir(), 'node.db'), { schema, migrationsFolder: MIGRATIONS });
    stops.push(() => nodeDb.$connection.close());
    await authorizePeers(nodeDb, [pageId]);
    // The page gets the same device list (users and devices), as a pairing would have left it.
    await call(page, 'authorize', nodeDb.select().from(ahenkUsers).all(), nodeDb.select().from(ahenkDevices).all());
    const nodeId = getDeviceId(nodeDb);

    // Offline writes on both sides, one row edited on both (the later write wins, per column).
    nodeDb.insert(todos).values({ id: 'n1', title: 'written on Node' }).run();
    nodeDb.insert(todos).values({ id: 'shared', title: 'Node version' }).run();
    await call(page, 'add', 'p1', 'written in the page', [1, 2, 3]);
    await call(page, 'add', 'shared', 'page version');

    const node: SyncNode = await createSyncNode(nodeDb, { listenAddresses: ['/ip4/127.0.0.1/tcp/0/ws'], keepPort: false });
    stops.push(() => node.stop());
    const address = node.getMultiaddrs().find((a) => a.includes('/ws/'))!;
    expect(address).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/ws\/p2p\/12D3KooW/);
    expect(await call<string>(page, 'dial', address)).toBe(nodeId);

    const nodeRows = () => nodeDb.select({ id: todos.id, title: todos.title }).from(todos).orderBy(todos.id).all();
    await waitFor(() => nodeRows().length === 3, 30_000, 'the page rows on Node');
    await call(page, 'waitForTitle', 'n1', 'written on Node', 30_000);
    // The page's write of 'shared' came after Node's: it wins on both sides.
    await waitFor(() => nodeRows().find((r) => r.id === 'shared')?.title === 'page version', 30_000, 'the shared row to converge on Node');
    await call(page, 'waitForTitle', 'shared', 'page version', 30_000);
    const pageRows = (await call<{ id: string; title: string; data: number[] | null }[]>(page, 'list')).map(({ id, title }) => ({ id, title }));
    expect(pageRows).toEqual(nodeRows());
    expect(Array.from(nodeDb.select({ data: todos.data }).from(todos).where(eq(todos.id, 'p1')).get()?.data ?? [])).toEqual([1, 2, 3]);
    expect(await call<{ peerId: string; authorized: boolean; syncing: boolean }[]>(page, 'peers')).toMatchObject([{ peerId: nodeId, authorized: true, syncing: true }]);

    // Live: an edit on Node shows up in the page, and one in the page on Node.
    let started = Date.now();
    nodeDb.update(todos).set({ title: 'live from Node' }).where(eq(todos.id, 'n1')).run();
    await call(page, 'waitForTitle', 'n1', 'live from Node', LIVE_WAIT_MS);
    const nodeToPage = Date.now() - started;
    started = Date.now();
    await call(page, 'setTitle', 'p1', 'live from the page');
    await waitFor(() => nodeRows().find((r) => r.id === 'p1')?.title === 'live from the page', LIVE_WAIT_MS, 'the live page edit on Node');
    const pageToNode = Date.now() - started;
    console.log(`live edit latency over WebSockets: Node -> page ${nodeToPage} ms, page -> Node ${pageToNode} ms (polled every 5-10 ms)`);

    // Reload: the data is in OPFS; Node writes meanwhile; dialled again, the page receives only that write.
    await page.reload();
    await ready(page);
    expect((await call<{ id: string; title: string }[]>(page, 'list')).map(({ id, title }) => ({ id, title }))).toEqual(nodeRows());
    await waitFor(() => node.peers().length === 0, 30_000, 'Node to see the page go');
    nodeDb.insert(todos).values({ id: 'n2', title: 'written while the page reloaded' }).run();
    expect(await call<string>(page, 'dial', address)).toBe(nodeId);
    await call(page, 'waitForTitle', 'n2', 'written while the page reloaded', 30_000);
    await page.screenshot({ path: artifactPath('browser-sync.png') });
    // The catch-up after the reload carried the one new row, not the whole log again. The row can
    // be in the page a moment before the session reports its catch-up (both sides' CAUGHT_UP).
    await expect.poll(() => call<{ peerId: string; received: number }[]>(page, 'completed'), { timeout: 30_000 }).toMatchObject([{ peerId: nodeId, received: 1 }]);
    expect(await call<string[]>(page, 'syncErrors')).toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  it("syncs from a tab that does not hold the database, tells every tab, and dials again from the tab left after the leader's closes", { timeout: 180_000 }, async () => {
    const context = await chromium.newContext();
    stops.push(() => context.close());
    const leader = await openFixturePage(context, chromium.origin());
    const follower = await openFixturePage(context, chromium.origin());
    const pageErrors: string[] = [];
    follower.on('pageerror', (error) => pageErrors.push(error.message));

    const nodeDb = initializeDatabase(join(tempDir(), 'node.db'), { schema, migrationsFolder: MIGRATIONS });
    stops.push(() => nodeDb.$connection.close());
    await authorizePeers(nodeDb, [await call<string>(follower, 'deviceId')]);
    await call(follower, 'authorize', nodeDb.select().from(ahenkUsers).all(), nodeDb.select().from(ahenkDevices).all());
    nodeDb.insert(todos).values({ id: 'before', title: 'written before the dial' }).run();
    const node: SyncNode = await createSyncNode(nodeDb, { listenAddresses: ['/ip4/127.0.0.1/tcp/0/ws'], keepPort: false });
    stops.push(() => node.stop());
    const address = node.getMultiaddrs().find((a) => a.includes('/ws/'))!;

    // The follower's dial runs on the leader's node; both tabs hear its catch-up.
    expect(await call<string>(follower, 'dial', address)).toBe(getDeviceId(nodeDb));
    await call(follower, 'waitForTitle', 'before', 'written before the dial', 30_000);
    for (const page of [leader, follower]) await expect.poll(() => call<unknown[]>(page, 'completed'), { timeout: 30_000 }).not.toEqual([]);

    // The leader's tab closes with the node; the follower leads now, dials again by itself, and live sync goes on.
    await leader.close();
    nodeDb.insert(todos).values({ id: 'after', title: 'written after the leader closed' }).run();
    await call(follower, 'waitForTitle', 'after', 'written after the leader closed', 60_000);
    await call(follower, 'setTitle', 'before', 'edited in the new leader');
    await waitFor(() => nodeDb.select().from(todos).where(eq(todos.id, 'before')).get()?.title === 'edited in the new leader', 30_000, 'the edit on Node');
    expect(await call<string[]>(follower, 'syncErrors')).toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  it('runs the initial-sync benchmark (a smoke size): every row arrives', { timeout: 180_000 }, async () => {
    const result = await initialSyncBench(chromium.browser(), 2000, 120_000);
    expect(result.received).toBeGreaterThanOrEqual(2000);
    console.log(`initial sync of ${result.rows} rows over WebSockets: ${result.wallMs.toFixed(0)} ms, ${result.rowsPerSecond} rows/s`);
  });
});
