// Ahenk in a real Chromium: SQLite in WebAssembly on OPFS in a worker, Drizzle in the page, the
// same capture, export and merge as on Node (entries cross between the page and a Node database).
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eq } from 'drizzle-orm';
import type { Page } from 'playwright-core';
import superjson from 'superjson';
import { describe, expect, it } from 'vitest';
import { getOplogEntriesSince, initializeDatabase, merge } from '../../src/index.ts';
import { tempDir } from '../helpers/db.ts';
import { schema, todos } from './fixture/schema.ts';
import { artifactPath, callPage, chromiumMissing, openFixturePage, pageReady } from './harness.ts';
import { fixtureInChromium } from './chromium-fixture.ts';

const MIGRATIONS = fileURLToPath(new URL('./fixture/drizzle', import.meta.url));

interface PageApi {
  deviceId: string;
  add(id: string, title: string, data?: number[]): Promise<void>;
  toggle(id: string): Promise<void>;
  list(): Promise<{ id: string; title: string; done: number; data: number[] | null }[]>;
  exportSince(since?: string): Promise<string>;
  merge(text: string): Promise<{ applied: number; unchanged: number; quarantined: number }>;
  failingQuery(): Promise<string>;
}

/** Calls the fixture page's API (window.ahenk). */
function call<K extends keyof PageApi>(page: Page, name: K, ...args: unknown[]): Promise<PageApi[K] extends (...a: never[]) => infer R ? Awaited<R> : PageApi[K]> {
  return callPage(page, name, ...args);
}

const ready = pageReady;

describe.skipIf(chromiumMissing !== undefined)('Ahenk in Chromium (OPFS, worker, Drizzle in the page)', () => {
  const chromium = fixtureInChromium();

  /** A fresh context: its own OPFS, as a new profile would have. */
  async function openPage(): Promise<Page> {
    return openFixturePage(await chromium.newContext(), chromium.origin());
  }

  it('opens the database in OPFS, writes through Drizzle in the page, and keeps the data across a reload', async () => {
    const page = await openPage();
    const deviceId = await call(page, 'deviceId');
    expect(deviceId).toMatch(/^12D3KooW/);
    await call(page, 'add', 'a1', 'buy milk', [0, 255]);
    await call(page, 'add', 'a2', 'water the plants');
    await call(page, 'toggle', 'a2');
    const before = await call(page, 'list');
    expect(before).toEqual([
      { id: 'a1', title: 'buy milk', done: 0, data: [0, 255] },
      { id: 'a2', title: 'water the plants', done: 1, data: null },
    ]);

    await page.reload();
    await ready(page);
    expect(await call(page, 'list')).toEqual(before);
    // The same database, so the same device identity.
    expect(await call(page, 'deviceId')).toBe(deviceId);
    await page.screenshot({ path: artifactPath('browser-todos.png') });
    await page.context().close();
  });

  it('merges what the page exports into a Node database, and what Node exports into the page', async () => {
    const page = await openPage();
    const pageDevice = await call(page, 'deviceId');
    await call(page, 'add', 'p1', 'from the page', [1, 2, 3]);
    await call(page, 'toggle', 'p1');

    const node = initializeDatabase(join(tempDir(), 'node.db'), { schema, migrationsFolder: MIGRATIONS });
    try {
      const fromPage = superjson.parse<ReturnType<typeof getOplogEntriesSince>>(await call(page, 'exportSince'));
      // Two groups (the insert, then the toggle of done), both stamped by the page's device.
      expect(fromPage.entries.map((e) => [e.table, e.pk, e.groups.map((g) => g.device)])).toEqual([['todos', 'p1', [pageDevice, pageDevice]]]);
      expect(merge(node, fromPage.entries).applied).toBe(1);
      const row = node.$connection.prepare(`SELECT id, title, done, typeof(done) AS t, hex(data) AS data FROM todos`).get();
      expect({ ...row }).toEqual({ id: 'p1', title: 'from the page', done: 1n, t: 'integer', data: '010203' });

      // Node edits the page's row and adds its own; the page takes both.
      node.update(todos).set({ title: 'edited on Node' }).where(eq(todos.id, 'p1')).run();
      node.insert(todos).values({ id: 'n1', title: 'from Node' }).run();
      const fromNode = getOplogEntriesSince(node);
      const result = await call(page, 'merge', superjson.stringify(fromNode.entries));
      expect(result).toEqual({ applied: 2, unchanged: 0, quarantined: 0 });
      expect(await call(page, 'list')).toEqual([
        { id: 'n1', title: 'from Node', done: 0, data: null },
        { id: 'p1', title: 'edited on Node', done: 1, data: [1, 2, 3] },
      ]);

      // Merging again changes nothing, on either side.
      expect(await call(page, 'merge', superjson.stringify(fromNode.entries))).toEqual({ applied: 0, unchanged: 2, quarantined: 0 });
      const again = superjson.parse<ReturnType<typeof getOplogEntriesSince>>(await call(page, 'exportSince'));
      expect(merge(node, again.entries).applied).toBe(0);
    } finally {
      node.$connection.close();
      await page.context().close();
    }
  });

  it("reports SQLite's own error from the worker to the page", async () => {
    const page = await openPage();
    const message = await call(page, 'failingQuery');
    expect(message).toMatch(/Failed query: insert into "todos"/);
    await page.context().close();
  });
});
