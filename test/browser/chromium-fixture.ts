// The fixture app served and Chromium launched around a describe block (kept apart from harness.ts,
// which bench/browser.ts imports outside vitest).
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { buildFixture, launch, serve } from './harness.ts';

/**
 * For a describe block: bundles and serves the fixture and launches Chromium before its tests,
 * and ends all of it after them. `newContext()` is a fresh profile (its own OPFS) on that origin.
 */
export function fixtureInChromium(): { origin: () => string; newContext: () => Promise<BrowserContext> } {
  let browser: Browser | undefined;
  let origin = '';
  const stops: (() => void)[] = [];
  beforeAll(async () => {
    const fixture = await buildFixture();
    stops.push(fixture.cleanup);
    const served = await serve(fixture.dir);
    stops.push(() => served.server.close());
    origin = served.origin;
    browser = await launch();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    while (stops.length > 0) stops.pop()!();
  });
  return { origin: () => origin, newContext: () => browser!.newContext() };
}
