// `npm run demo:web` as a user runs it: it builds and serves the web example and starts a Node
// device; the page loads in Chromium, a todo added there is still there after a reload (and was
// captured in the log), a screenshot is kept, and Ctrl-C (SIGINT to the process group) ends it all.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/db.ts';
import { artifactPath, chromiumMissing, launch } from './harness.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Whether any process of the group `pid` leads is still running. */
function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(chromiumMissing !== undefined)('npm run demo:web', () => {
  let browser: Browser | undefined;
  afterAll(async () => {
    await browser?.close();
  });

  it('serves the todo app beside a Node device, keeps a todo across a reload, and stops on Ctrl-C', async () => {
    const child = spawn('npm', ['run', 'demo:web'], { cwd: root, detached: true, env: { ...process.env, AHENK_DEMO_PORT: '0', AHENK_DEMO_DIR: tempDir() } });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(`${code} ${signal}`)));
    try {
      await expect.poll(() => /page:\s+(http:\/\/127\.0\.0\.1:\d+\/\S*)/.exec(output)?.[1], { timeout: 120_000, interval: 200 }).toBeDefined();
      const url = /page:\s+(http:\/\/127\.0\.0\.1:\d+\/\S*)/.exec(output)![1]!;
      expect(output).toMatch(/Node device: 12D3KooW\w+\s+listening on \/ip4\/127\.0\.0\.1\/tcp\/\d+/);
      expect(output).toContain('The page does not sync yet');

      browser = await launch();
      const page = await browser.newPage();
      await page.goto(url);
      await page.waitForSelector('body[data-ready=true]', { timeout: 60_000 });
      await expect.poll(() => page.textContent('#status')).toMatch(/0 changed rows in the log · not syncing yet/);
      await page.fill('#title', 'water the plants');
      await page.press('#title', 'Enter');
      await page.waitForSelector('#todos li >> text=water the plants', { timeout: 20_000 });
      await expect.poll(() => page.textContent('#status')).toMatch(/1 changed row in the log/);

      await page.check('#todos li input[type=checkbox]');
      await expect.poll(() => page.textContent('#status')).toMatch(/1 changed row in the log/);

      await page.reload();
      await page.waitForSelector('body[data-ready=true]', { timeout: 60_000 });
      expect(await page.locator('#todos li span').allTextContents()).toEqual(['water the plants']);
      expect(await page.isChecked('#todos li input[type=checkbox]')).toBe(true);
      await page.screenshot({ path: artifactPath('demo-web.png') });
      await page.close();

      // Ctrl-C: every process of the group gets SIGINT. The demo closes the page server, the sync
      // node and the database and says 'stopped'; npm then ends by the same signal, as in a terminal.
      process.kill(-child.pid!, 'SIGINT');
      expect(await exited, output).toMatch(/^(0 null|null SIGINT)$/);
      await expect.poll(() => output, { timeout: 30_000 }).toMatch(/\nstopped\n/);
      await expect.poll(() => groupAlive(child.pid!), { timeout: 30_000 }).toBe(false);
      await expect(fetch(url)).rejects.toThrow();
    } finally {
      if (groupAlive(child.pid!)) process.kill(-child.pid!, 'SIGKILL');
    }
  }, 240_000);
});
