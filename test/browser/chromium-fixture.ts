// The fixture app served and Chromium launched around a describe block (kept apart from harness.ts,
// which the benches import outside vitest).
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { fixtureBrowser } from './harness.ts';

/**
 * For a describe block: bundles and serves the fixture and launches Chromium before its tests,
 * and ends all of it after them. `newContext()` is a fresh profile (its own OPFS) on that origin.
 */
export function fixtureInChromium(): { origin: () => string; browser: () => Browser; newContext: () => Promise<BrowserContext> } {
  let started: Awaited<ReturnType<typeof fixtureBrowser>> | undefined;
  beforeAll(async () => {
    started = await fixtureBrowser();
  }, 120_000);
  afterAll(async () => {
    await started?.stop();
  });
  return { origin: () => started!.origin, browser: () => started!.browser, newContext: () => started!.browser.newContext() };
}

/** For a describe block: a list of clean-ups, run last-in first-out after its tests. */
export function cleanupsAfterAll(): (() => unknown)[] {
  const stops: (() => unknown)[] = [];
  afterAll(async () => {
    while (stops.length > 0) await stops.pop()!();
  });
  return stops;
}
