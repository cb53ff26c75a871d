// A batch from a Node device that arrives while a tab holds a transaction open (sqlite-proxy sends
// BEGIN, each statement and COMMIT as separate requests to the one connection in the leader's
// worker) waits for the transaction to end: it is neither applied inside it (a ROLLBACK would take
// synced rows back while the cursor moved; the store's apply would fail changing a pragma there),
// nor are the tab's rows sent before they are committed. Then it is applied, its cursor stored:
// after a reload the rows are there and nothing comes again.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { like } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { getDeviceId, initializeDatabase } from '../../src/index.ts';
import { ahenkDevices, ahenkUsers } from '../../src/schema/system.ts';
import { createSyncNode, type SyncNode } from '../../src/sync/node/index.ts';
import { TURN_WAIT_NOTICE_MS } from '../../src/sync/node/constants.ts';
import { tempDir } from '../helpers/db.ts';
import { authorizePeers, waitFor } from '../net/fixtures.ts';
import { schema, todos } from './fixture/schema.ts';
import { cleanupsAfterAll, fixtureInChromium } from './chromium-fixture.ts';
import { callPage as call, chromiumMissing, openFixturePage, pageReady } from './harness.ts';

const MIGRATIONS = fileURLToPath(new URL('./fixture/drizzle', import.meta.url));
const NODE_ROWS = 300;
/** How long the tab keeps its transaction open once Node has sent every row: the batches have long arrived by then. */
const HOLD_AFTER_SENT_MS = 1_500;

describe.skipIf(chromiumMissing !== undefined)('a sync batch that arrives while a tab holds a transaction open', () => {
  const chromium = fixtureInChromium();
  const stops = cleanupsAfterAll();

  for (const ending of ['rollback', 'commit'] as const) {
    it(`waits for the tab's ${ending.toUpperCase()}, then applies the batch and stores its cursor (kept after a reload)`, { timeout: 180_000 }, async () => {
      const context = await chromium.newContext();
      stops.push(() => context.close());
      const page = await openFixturePage(context, chromium.origin());
      const pageErrors: string[] = [];
      page.on('pageerror', (error) => pageErrors.push(error.message));

      const nodeDb = initializeDatabase(join(tempDir(), 'node.db'), { schema, migrationsFolder: MIGRATIONS });
      stops.push(() => nodeDb.$connection.close());
      await authorizePeers(nodeDb, [await call<string>(page, 'deviceId')]);
      await call(page, 'authorize', nodeDb.select().from(ahenkUsers).all(), nodeDb.select().from(ahenkDevices).all());
      nodeDb.insert(todos).values({ id: 'first', title: 'before the transaction' }).run();
      const node: SyncNode = await createSyncNode(nodeDb, { listenAddresses: ['/ip4/127.0.0.1/tcp/0/ws'], keepPort: false });
      stops.push(() => node.stop());
      let sentToPage = 0;
      node.on('sync:progress', (event) => {
        if (event.direction === 'send') sentToPage = event.entries;
      });
      const address = node.getMultiaddrs().find((a) => a.includes('/ws/'))!;
      expect(await call<string>(page, 'dial', address)).toBe(getDeviceId(nodeDb));
      await call(page, 'waitForTitle', 'first', 'before the transaction', 30_000);
      const sentBefore = sentToPage;

      // The tab opens a transaction (and writes in it); Node writes meanwhile and sends the rows.
      await call(page, 'holdTransaction', 'tab-row');
      const values = Array.from({ length: NODE_ROWS }, (_, i) => ({ id: `n-${i.toString().padStart(3, '0')}`, title: `from Node ${i}` }));
      nodeDb.$connection.transaction(() => nodeDb.insert(todos).values(values).run());
      await waitFor(() => sentToPage >= sentBefore + NODE_ROWS, 30_000, 'Node to send its rows to the page');
      await new Promise((resolve) => setTimeout(resolve, HOLD_AFTER_SENT_MS));
      // Read inside the tab's own transaction (the tab's requests run in it): none of Node's rows landed there.
      expect(await call<number>(page, 'count', 'n')).toBe(0);
      // Nor did the tab's uncommitted row go to Node.
      expect(nodeDb.select().from(todos).where(like(todos.id, 'tab-row%')).all()).toEqual([]);

      const outcome = await call<string>(page, 'endTransaction', ending === 'rollback');
      expect(outcome).toBe(ending === 'rollback' ? 'Error: rolled back on purpose' : 'committed');
      await expect.poll(() => call<number>(page, 'count', 'n'), { timeout: 30_000 }).toBe(NODE_ROWS);
      const tabRows = async () => (await call<{ id: string }[]>(page, 'list')).map((r) => r.id).filter((id) => id.startsWith('tab-row'));
      const expectedTabRows = ending === 'rollback' ? [] : ['tab-row', 'tab-row-second'];
      expect(await tabRows()).toEqual(expectedTabRows);
      if (ending === 'commit') {
        await waitFor(() => nodeDb.select().from(todos).where(like(todos.id, 'tab-row%')).all().length === 2, 30_000, 'the committed tab rows on Node');
      } else {
        // A live write after the rollback reaches Node: the page's log is whole after the rollback, and the rolled-back rows never went.
        await call(page, 'add', 'after-rollback', 'written after the rollback');
        await waitFor(() => nodeDb.select().from(todos).where(like(todos.id, 'after-rollback')).all().length === 1, 30_000, 'the page write after the rollback on Node');
        expect(nodeDb.select().from(todos).where(like(todos.id, 'tab-row%')).all()).toEqual([]);
      }
      expect(await call<string[]>(page, 'syncErrors')).toEqual([]);

      // Reload (OPFS): the rows are there, and a new session carries nothing again: the cursor was stored with them.
      await page.reload();
      await pageReady(page);
      await waitFor(() => node.peers().length === 0, 30_000, 'Node to see the page go');
      expect(await call<number>(page, 'count', 'n')).toBe(NODE_ROWS);
      expect(await tabRows()).toEqual(expectedTabRows);
      await call(page, 'dial', address);
      await expect.poll(() => call<unknown[]>(page, 'completed'), { timeout: 30_000 }).not.toEqual([]);
      expect(await call<{ received: number }[]>(page, 'completed')).toMatchObject([{ received: 0 }]);
      expect(await call<string[]>(page, 'syncErrors')).toEqual([]);
      expect(pageErrors).toEqual([]);
    });
  }

  it('reports a transaction that stays open past TURN_WAIT_NOTICE_MS (an error event, DatabaseBusyError), and syncs once it ends', { timeout: 180_000 }, async () => {
    const context = await chromium.newContext();
    stops.push(() => context.close());
    const page = await openFixturePage(context, chromium.origin());
    const nodeDb = initializeDatabase(join(tempDir(), 'node.db'), { schema, migrationsFolder: MIGRATIONS });
    stops.push(() => nodeDb.$connection.close());
    await authorizePeers(nodeDb, [await call<string>(page, 'deviceId')]);
    await call(page, 'authorize', nodeDb.select().from(ahenkUsers).all(), nodeDb.select().from(ahenkDevices).all());
    const node: SyncNode = await createSyncNode(nodeDb, { listenAddresses: ['/ip4/127.0.0.1/tcp/0/ws'], keepPort: false });
    stops.push(() => node.stop());
    await call(page, 'dial', node.getMultiaddrs().find((a) => a.includes('/ws/'))!);
    await expect.poll(() => call<unknown[]>(page, 'completed'), { timeout: 30_000 }).not.toEqual([]);

    await call(page, 'holdTransaction', 'forgotten');
    const started = Date.now();
    nodeDb.insert(todos).values({ id: 'n-late', title: 'waits for the transaction' }).run();
    await expect.poll(() => call<string[]>(page, 'syncErrors'), { timeout: TURN_WAIT_NOTICE_MS + 20_000, interval: 500 }).toEqual([expect.stringMatching(/waited 1\d s for a transaction held open/)]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(TURN_WAIT_NOTICE_MS);
    expect(await call<number>(page, 'count', 'n')).toBe(0);
    expect(await call<string>(page, 'endTransaction', false)).toBe('committed');
    await call(page, 'waitForTitle', 'n-late', 'waits for the transaction', 30_000);
    await waitFor(() => nodeDb.select().from(todos).where(like(todos.id, 'forgotten%')).all().length === 2, 30_000, 'the committed rows on Node');
    // Reported once for that wait; the connection held all along.
    expect(await call<string[]>(page, 'syncErrors')).toHaveLength(1);
    expect(node.peers()).toHaveLength(1);
  });
});
