/**
 * Initial sync of `rows` rows from a Node device into an empty page over WebSockets: a Node
 * SyncNode on 127.0.0.1 (/ws) holding the rows, the test fixture app in Chromium (its database
 * worker runs the web sync node), both on each other's device list. Timed from the page's dial to
 * the page's catch-up event (`sync:complete`); used by `npm run bench:browser` and, small, by
 * test/browser/sync.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { getDeviceId, initializeDatabase } from '../src/index.ts';
import { ahenkDevices, ahenkUsers } from '../src/schema/system.ts';
import { createSyncNode } from '../src/sync/node/index.ts';
import { authorizePeers } from '../test/net/fixtures.ts';
import { uuidv7Generator, type KeyKind } from './data.ts';
import { buildFixture, callPage, pageReady, serve } from '../test/browser/harness.ts';
import { schema, todos } from '../test/browser/fixture/schema.ts';

const MIGRATIONS = fileURLToPath(new URL('../test/browser/fixture/drizzle', import.meta.url));
const INSERT_CHUNK = 1000;

export interface InitialSyncResult {
  rows: number;
  /** From the page's dial to its catch-up event, as the test saw it. */
  wallMs: number;
  /** The session's own duration, measured in the worker. */
  sessionMs: number;
  received: number;
  rowsPerSecond: number;
}

const call = callPage;

/** `keys`: random UUIDv4 (crypto.randomUUID) or time-ordered UUIDv7 keys for the Node device's rows. */
export async function initialSyncBench(browser: Browser, rows: number, timeoutMs = 600_000, keys: KeyKind = 'v4'): Promise<InitialSyncResult> {
  const fixture = await buildFixture();
  const { origin, server } = await serve(fixture.dir);
  const context = await browser.newContext();
  const dir = mkdtempSync(join(tmpdir(), 'ahenk-bench-sync-'));
  const nodeDb = initializeDatabase(join(dir, 'node.db'), { schema, migrationsFolder: MIGRATIONS });
  let node: Awaited<ReturnType<typeof createSyncNode>> | undefined;
  const nextKey = keys === 'v7' ? uuidv7Generator() : () => crypto.randomUUID();
  try {
    for (let start = 0; start < rows; start += INSERT_CHUNK) {
      const values = Array.from({ length: Math.min(INSERT_CHUNK, rows - start) }, (_, i) => ({ id: nextKey(), title: `row ${start + i}`, done: (start + i) % 2 }));
      nodeDb.$connection.transaction(() => nodeDb.insert(todos).values(values).run());
    }
    const page = await context.newPage();
    await page.goto(origin);
    await pageReady(page, 30_000);
    const pageId = await call<string>(page, 'deviceId');
    await authorizePeers(nodeDb, [pageId]);
    await call(page, 'authorize', nodeDb.select().from(ahenkUsers).all(), nodeDb.select().from(ahenkDevices).all());
    node = await createSyncNode(nodeDb, { listenAddresses: ['/ip4/127.0.0.1/tcp/0/ws'], keepPort: false, ...(process.env.AHENK_BENCH_DEBUG ? { log: (m: string) => console.error(`node: ${m}`) } : {}) });
    const address = node.getMultiaddrs().find((a) => a.includes('/ws/'))!;
    const nodeId = getDeviceId(nodeDb);
    const started = performance.now();
    await call(page, 'dial', address);
    let done: { received: number; durationMs: number } | undefined;
    while (done === undefined) {
      if (performance.now() - started > timeoutMs) throw new Error(`the page did not catch up with ${rows} rows within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
      done = (await call<{ peerId: string; received: number; durationMs: number }[]>(page, 'completed')).find((e) => e.peerId === nodeId);
    }
    const wallMs = performance.now() - started;
    if (process.env.AHENK_BENCH_DEBUG) console.log(JSON.stringify({ completed: await call(page, 'completed'), errors: await call(page, 'syncErrors') }));
    const count = await call<number>(page, 'count');
    if (count !== rows) throw new Error(`the page holds ${count} rows after its catch-up, not ${rows}`);
    return { rows, wallMs, sessionMs: done.durationMs, received: done.received, rowsPerSecond: Math.round((rows / wallMs) * 1000) };
  } finally {
    await node?.stop();
    nodeDb.$connection.close();
    rmSync(dir, { recursive: true, force: true });
    await context.close();
    server.close();
    fixture.cleanup();
  }
}
