/**
 * `npm run bench:browser`: Ahenk in Chromium on OPFS (SAH pool, in a worker). Prints one markdown
 * table, each line for random UUIDv4 and time-ordered UUIDv7 keys, the median of
 * AHENK_BENCH_ROUNDS rounds (default 3), each ratio against its baseline in the same round:
 * insert and update overhead (synced/plain, AHENK_BENCH_ROWS rows, default 20000, in transactions
 * of 1000), a merge of AHENK_BENCH_MERGE_ROWS (default 100000) row deltas into an empty database
 * against a plain upsert of the same rows, the initial sync of AHENK_BENCH_SYNC_ROWS (default
 * 100000) rows from a Node device over WebSockets (AHENK_BENCH_SYNC_ROUNDS runs, default 3; its
 * ratio is against the merge of as many rows in the page), and the browser bundles' sizes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { browserBuild } from '../scripts/build-browser.mjs';
import { buildFixture, chromiumMissing, launch, serve } from '../test/browser/harness.ts';
import { envInt, median } from './util.ts';
import { initialSyncBench } from './browser-sync.ts';
import type { BenchRound } from './browser/worker.ts';

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
      `| page bundle (Drizzle + sqlite-proxy + ahenk/browser page side), minified | ${size('page.js')} (either) |`,
      `| worker bundle (Ahenk core + sqlite-wasm JS + libp2p: WebSockets, Noise, Yamux, identify, circuit relay, WebRTC), minified | ${size('worker.js')} (either) |`,
      `| sqlite3.wasm | ${size('sqlite3.wasm')} (either) |`,
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
  const rounds = envInt('AHENK_BENCH_ROUNDS', 3);
  const syncRounds = envInt('AHENK_BENCH_SYNC_ROUNDS', 3);
  const { dir, cleanup } = await buildFixture();
  await browserBuild({ entryPoints: { page: join(here, 'browser', 'page.ts'), worker: join(here, 'browser', 'worker.ts') }, outdir: dir, whole: true, minify: true });
  writeFileSync(join(dir, 'index.html'), '<!doctype html><body><script type="module" src="./page.js"></script></body>');
  const { origin, server } = await serve(dir);
  const browser = await launch();
  try {
    const page = await browser.newPage();
    await page.goto(origin);
    await page.waitForSelector('body[data-ready=true]', { state: 'attached' });
    const reply = (await page.evaluate(
      ([r, m, n]) => (globalThis as unknown as { runBench: (r: number, m: number, n: number) => Promise<unknown> }).runBench(r!, m!, n!),
      [rows, mergeRows, rounds],
    )) as { ok: true; result: { journal: string; rounds: BenchRound[] } } | { ok: false; error: string };
    if (!reply.ok) throw new Error(reply.error);
    await page.close();
    const { journal } = reply.result;
    for (const round of reply.result.rounds) if (round.merged !== mergeRows) throw new Error(`merge left ${round.merged} rows of ${mergeRows}`);
    const syncs: Record<KeyKind, { wallMs: number; rowsPerSecond: number }[]> = { v4: [], v7: [] };
    for (let round = 0; round < syncRounds; round++) {
      for (const kind of KINDS) syncs[kind].push(await initialSyncBench(browser, syncRows, 900_000, kind));
    }

    const ms = (v: number) => `${v.toFixed(0)} ms`;
    const perSec = (v: number) => `${Math.round(v).toLocaleString('en')} rows/s`;
    /** Median over the rounds of one key kind: of each figure, and of each round's ratio. */
    const of = (kind: KeyKind) => reply.result.rounds.filter((r) => r.kind === kind);
    const med = (kind: KeyKind, pick: (r: BenchRound) => number) => median(of(kind).map(pick));
    const pair = (label: string, plain: (r: BenchRound) => number, synced: (r: BenchRound) => number) =>
      `| ${label} | ${KINDS.map((k) => `${ms(med(k, plain))} / ${ms(med(k, synced))} = **${med(k, (r) => synced(r) / plain(r)).toFixed(2)}x**`).join(' | ')} |`;
    console.log(`Chromium ${browser.version()}, OPFS (SAH pool VFS) in a dedicated worker, journal_mode ${journal}; medians of ${rounds} rounds (${syncRounds} for the initial sync), each ratio taken within its round\n`);
    console.log('| measure | random UUIDv4 keys | time-ordered UUIDv7 keys |');
    console.log('| --- | --- | --- |');
    console.log(pair(`insert ${rows} rows (transactions of 1000), plain / synced`, (r) => r.plainInsertMs, (r) => r.syncedInsertMs));
    console.log(pair(`update ${rows} rows, plain / synced`, (r) => r.plainUpdateMs, (r) => r.syncedUpdateMs));
    console.log(pair('same in memory (sqlite-wasm, no OPFS): insert plain / synced', (r) => r.memoryPlainInsertMs, (r) => r.memorySyncedInsertMs));
    console.log(pair('same in memory: update plain / synced', (r) => r.memoryPlainUpdateMs, (r) => r.memorySyncedUpdateMs));
    console.log(`| export ${mergeRows} row deltas (in-memory source) | ${KINDS.map((k) => `${ms(med(k, (r) => r.exportMs))} (${perSec(mergeRows / (med(k, (r) => r.exportMs) / 1000))})`).join(' | ')} |`);
    console.log(pair(`merge ${mergeRows} rows into an empty database, one call: plain upsert / merge`, (r) => r.upsertMs, (r) => r.mergeMs));
    console.log(`| merge ${mergeRows} rows, rows/s | ${KINDS.map((k) => perSec(mergeRows / (med(k, (r) => r.mergeMs) / 1000))).join(' | ')} |`);
    const syncLine = KINDS.map((k) => {
      const wall = median(syncs[k].map((s) => s.wallMs));
      // Against the page's own merge of as many rows (same key kind, this run's median): what the session, the wire and libp2p add.
      const mergeAtSize = med(k, (r) => r.mergeMs) * (syncRows / mergeRows);
      return `${ms(wall)}, **${perSec(median(syncs[k].map((s) => s.rowsPerSecond)))}** (runs: ${syncs[k].map((s) => Math.round(s.rowsPerSecond).toLocaleString('en')).join(', ')}); **${(wall / mergeAtSize).toFixed(2)}x** the merge`;
    });
    console.log(`| initial sync of ${syncRows} rows from a Node device over WebSockets (dial to caught up) | ${syncLine.join(' | ')} |`);
    for (const line of await bundleSizes()) console.log(line);
  } finally {
    await browser.close();
    server.close();
    cleanup();
  }
}

type KeyKind = 'v4' | 'v7';
const KINDS: readonly KeyKind[] = ['v4', 'v7'];

await main();
