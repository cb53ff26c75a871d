/**
 * `npm run bench:browser`: Ahenk in Chromium on OPFS (SAH pool, in a worker). Prints one markdown
 * table: insert and update overhead (synced/plain, AHENK_BENCH_ROWS rows, default 20000, in
 * transactions of 1000), a merge of AHENK_BENCH_MERGE_ROWS (default 100000) row deltas into an
 * empty database against a plain upsert of the same rows, the initial sync of
 * AHENK_BENCH_SYNC_ROWS (default 100000) rows from a Node device over WebSockets, and the browser
 * bundles' sizes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { browserBuild } from '../scripts/build-browser.mjs';
import { buildFixture, chromiumMissing, launch, serve } from '../test/browser/harness.ts';
import { envInt } from './util.ts';
import { initialSyncBench } from './browser-sync.ts';

const here = fileURLToPath(new URL('.', import.meta.url));

async function bundleSizes(): Promise<string[]> {
  const { dir, cleanup } = await buildFixture();
  try {
    await browserBuild({ entryPoints: { page: join(here, '..', 'test', 'browser', 'fixture', 'page.ts'), worker: join(here, '..', 'test', 'browser', 'fixture', 'worker.ts') }, outdir: dir, whole: true, minify: true });
    const size = (file: string) => {
      const bytes = readFileSync(join(dir, file));
      return `${(bytes.length / 1024).toFixed(0)} KiB, ${(gzipSync(bytes, { level: 9 }).length / 1024).toFixed(0)} KiB gzipped`;
    };
    return [
      `| page bundle (Drizzle + sqlite-proxy + ahenk/browser page side), minified | ${size('page.js')} |`,
      `| worker bundle (Ahenk core + sqlite-wasm JS + libp2p: WebSockets, Noise, Yamux, identify), minified | ${size('worker.js')} |`,
      `| sqlite3.wasm | ${size('sqlite3.wasm')} |`,
    ];
  } finally {
    cleanup();
  }
}

async function main(): Promise<void> {
  if (chromiumMissing !== undefined) {
    console.log(`bench:browser skipped: ${chromiumMissing}`);
    return;
  }
  const rows = envInt('AHENK_BENCH_ROWS', 20_000);
  const mergeRows = envInt('AHENK_BENCH_MERGE_ROWS', 100_000);
  const syncRows = envInt('AHENK_BENCH_SYNC_ROWS', 100_000);
  const { dir, cleanup } = await buildFixture();
  await browserBuild({ entryPoints: { page: join(here, 'browser', 'page.ts'), worker: join(here, 'browser', 'worker.ts') }, outdir: dir, whole: true, minify: true });
  writeFileSync(join(dir, 'index.html'), '<!doctype html><body><script type="module" src="./page.js"></script></body>');
  const { origin, server } = await serve(dir);
  const browser = await launch();
  try {
    const page = await browser.newPage();
    await page.goto(origin);
    await page.waitForSelector('body[data-ready=true]', { state: 'attached' });
    const reply = (await page.evaluate(([r, m]) => (globalThis as unknown as { runBench: (r: number, m: number) => Promise<unknown> }).runBench(r!, m!), [rows, mergeRows])) as
      | { ok: true; result: Record<string, number> }
      | { ok: false; error: string };
    if (!reply.ok) throw new Error(reply.error);
    const r = reply.result;
    const ms = (v: number) => `${v.toFixed(0)} ms`;
    const perSec = (n: number, v: number) => `${Math.round((n / v) * 1000).toLocaleString('en')} rows/s`;
    const version = browser.version();
    console.log(`Chromium ${version}, OPFS (SAH pool VFS) in a dedicated worker, journal_mode ${r.journal}; random UUIDv4 keys; best of 2 rounds\n`);
    console.log('| measure | figure |');
    console.log('| --- | --- |');
    console.log(`| insert ${r.rows} rows, plain / synced | ${ms(r.plainInsertMs!)} / ${ms(r.syncedInsertMs!)} = **${(r.syncedInsertMs! / r.plainInsertMs!).toFixed(2)}x** |`);
    console.log(`| update ${r.rows} rows, plain / synced | ${ms(r.plainUpdateMs!)} / ${ms(r.syncedUpdateMs!)} = **${(r.syncedUpdateMs! / r.plainUpdateMs!).toFixed(2)}x** |`);
    console.log(`| same in memory (sqlite-wasm, no OPFS): insert plain / synced | ${ms(r.memoryPlainInsertMs!)} / ${ms(r.memorySyncedInsertMs!)} = **${(r.memorySyncedInsertMs! / r.memoryPlainInsertMs!).toFixed(2)}x** |`);
    console.log(`| same in memory: update plain / synced | ${ms(r.memoryPlainUpdateMs!)} / ${ms(r.memorySyncedUpdateMs!)} = **${(r.memorySyncedUpdateMs! / r.memoryPlainUpdateMs!).toFixed(2)}x** |`);
    console.log(`| export ${r.mergeRows} row deltas (in-memory source) | ${ms(r.exportMs!)} (${perSec(r.mergeRows!, r.exportMs!)}) |`);
    console.log(`| merge ${r.mergeRows} rows into an empty database, one transaction | ${ms(r.mergeMs!)} (${perSec(r.mergeRows!, r.mergeMs!)}); plain upsert ${ms(r.upsertMs!)} = **${(r.mergeMs! / r.upsertMs!).toFixed(2)}x** |`);
    if (r.merged !== r.mergeRows) throw new Error(`merge left ${r.merged} rows of ${r.mergeRows}`);
    const synced = await initialSyncBench(browser, syncRows);
    console.log(`| initial sync of ${synced.rows} rows from a Node device over WebSockets (dial to caught up) | ${ms(synced.wallMs)} (${synced.rowsPerSecond.toLocaleString('en')} rows/s; the session itself ${ms(synced.sessionMs)}) |`);
    for (const line of await bundleSizes()) console.log(line);
  } finally {
    await browser.close();
    server.close();
    cleanup();
  }
}

await main();
