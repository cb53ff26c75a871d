// Browser tests: the fixture app bundled (scripts/build-browser.mjs), served on 127.0.0.1, and
// Debian's Chromium driven by playwright-core. Where /usr/bin/chromium is absent the tests skip and
// say why (.ci/run installs it).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, copyFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { browserBuild } from '../../scripts/build-browser.mjs';

export const CHROMIUM = process.env.AHENK_CHROMIUM ?? '/usr/bin/chromium';
export const chromiumMissing = existsSync(CHROMIUM) ? undefined : `no Chromium at ${CHROMIUM} (apt-get install -y chromium; .ci/run does)`;
if (chromiumMissing !== undefined) console.warn(`browser tests skipped: ${chromiumMissing}`);

const here = fileURLToPath(new URL('.', import.meta.url));
export const ARTIFACTS = join(here, '..', '..', 'test-artifacts');

/** Bundles the fixture app (page, worker, sqlite3.wasm, index.html) into a fresh directory. */
export async function buildFixture(extra: Record<string, string> = {}): Promise<{ dir: string; cleanup: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'ahenk-browser-'));
  const fixture = join(here, 'fixture');
  await browserBuild({ entryPoints: { page: join(fixture, 'page.ts'), worker: join(fixture, 'worker.ts'), ...extra }, outdir: dir, whole: true });
  copyFileSync(join(fixture, 'index.html'), join(dir, 'index.html'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.map': 'application/json' };

/** Serves `dir` on 127.0.0.1 (a secure context, as OPFS needs); resolves to its origin. */
export async function serve(dir: string): Promise<{ origin: string; server: Server }> {
  const server = createServer((request, response) => {
    const path = normalize(decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    const file = join(dir, path === '/' ? 'index.html' : path);
    if (!file.startsWith(dir) || !existsSync(file)) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    response.end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

export async function launch(): Promise<Browser> {
  // As root Chromium needs --no-sandbox; the page is our own fixture on loopback.
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless=new'] });
}

export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, name);
}

/** Calls a function, or reads a value, of the fixture page's API (`window.ahenk`). */
export function callPage<T>(page: Page, name: string, ...args: unknown[]): Promise<T> {
  return page.evaluate(
    ([n, a]) => {
      const api = (globalThis as unknown as { ahenk: Record<string, unknown> }).ahenk;
      const member = api[n as string];
      return typeof member === 'function' ? (member as (...x: unknown[]) => unknown)(...(a as unknown[])) : member;
    },
    [name, args] as const,
  ) as Promise<T>;
}

/** Opens the fixture in a new page of `context` and waits until its database answers. */
export async function openFixturePage(context: BrowserContext, origin: string): Promise<Page> {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(origin);
  await pageReady(page, 60_000).catch((error: Error) => {
    throw new Error(`${error.message}; page errors: ${errors.join('; ')}`);
  });
  return page;
}

/** The fixture app built, served and a Chromium launched; `stop` closes all three. */
export async function fixtureBrowser(): Promise<{ browser: Browser; origin: string; stop: () => Promise<void> }> {
  const fixture = await buildFixture();
  const served = await serve(fixture.dir);
  const browser = await launch();
  return {
    browser,
    origin: served.origin,
    stop: async () => {
      await browser.close();
      served.server.close();
      fixture.cleanup();
    },
  };
}

/** Waits for the fixture page to say it is ready (its database open). */
export async function pageReady(page: Page, timeoutMs = 20_000): Promise<void> {
  await page.waitForSelector('body[data-ready=true]', { timeout: timeoutMs });
}
