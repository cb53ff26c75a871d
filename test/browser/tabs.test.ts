// Two tabs of one origin share one OPFS database: the first tab's worker leads (a Web Lock), the
// other's requests go to it; a transaction is one tab's alone; when the leading tab closes, the other
// takes the database over with nothing lost and nothing written twice.
import type { BrowserContext, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { callPage, chromiumMissing, openFixturePage } from './harness.ts';
import { fixtureInChromium } from './chromium-fixture.ts';

interface Row {
  id: string;
  title: string;
}

describe.skipIf(chromiumMissing !== undefined)('two tabs, one database (Web Locks leader)', () => {
  const chromium = fixtureInChromium();

  /** Two tabs of one origin (one context, so one OPFS): the first one opened leads. */
  async function twoTabs(): Promise<{ context: BrowserContext; leader: Page; follower: Page }> {
    const context = await chromium.newContext();
    const leader = await openFixturePage(context, chromium.origin());
    const follower = await openFixturePage(context, chromium.origin());
    return { context, leader, follower };
  }

  const ids = async (page: Page) => (await callPage<Row[]>(page, 'list')).map((row) => row.id);

  it('both tabs write at the same time and both see every row', async () => {
    const { context, leader, follower } = await twoTabs();
    try {
      expect(await callPage(follower, 'deviceId')).toBe(await callPage(leader, 'deviceId'));
      await Promise.all([callPage(leader, 'addMany', 'a', 40), callPage(follower, 'addMany', 'b', 40)]);
      const expected = [...Array.from({ length: 40 }, (_, i) => `a-${String(i).padStart(3, '0')}`), ...Array.from({ length: 40 }, (_, i) => `b-${String(i).padStart(3, '0')}`)];
      expect(await ids(leader)).toEqual(expected);
      expect(await ids(follower)).toEqual(expected);
      expect(await callPage(follower, 'integrityCheck')).toEqual(['ok']);
    } finally {
      await context.close();
    }
  }, 60_000);

  it("keeps a tab's transaction its own: the other tab's writes wait, and are not rolled back with it", async () => {
    const { context, leader, follower } = await twoTabs();
    try {
      for (const [holder, other] of [
        [follower, leader],
        [leader, follower],
      ] as const) {
        const tag = holder === follower ? 'f' : 'l';
        await callPage(holder, 'holdTransaction', `held-${tag}`);
        let settled = false;
        const writes = callPage(other, 'addMany', `w${tag}`, 6).then(() => (settled = true));
        // The other tab's writes cannot run while the transaction is open (10x headroom for a loaded machine).
        await new Promise((resolve) => setTimeout(resolve, 1000));
        expect(settled).toBe(false);
        expect(await callPage(holder, 'endTransaction', true)).toBe('Error: rolled back on purpose');
        await writes;
        const rows = await ids(other);
        expect(rows.filter((id) => id.startsWith(`w${tag}-`))).toHaveLength(6);
        expect(rows.filter((id) => id.startsWith('held-'))).toEqual([]);
      }
      // And a transaction that commits lands whole.
      await callPage(follower, 'holdTransaction', 'kept');
      expect(await callPage(follower, 'endTransaction', false)).toBe('committed');
      expect((await ids(leader)).filter((id) => id.startsWith('kept'))).toEqual(['kept', 'kept-second']);
    } finally {
      await context.close();
    }
  }, 60_000);

  it('when the leading tab closes the other takes over: every write once, an open transaction rolled back, the file intact', async () => {
    const { context, leader, follower } = await twoTabs();
    try {
      await callPage(leader, 'addMany', 'a', 20);
      // A third tab writes one row after another; the follower then holds a transaction open at
      // the leader (the third tab's next write waits for it), and the leader closes under both.
      const third = await openFixturePage(context, chromium.origin());
      const writing = callPage<string[]>(third, 'addInTurn', 'c', 60);
      await expect.poll(() => callPage<number>(third, 'count', 'c'), { timeout: 60_000 }).toBeGreaterThanOrEqual(10);
      await callPage(follower, 'holdTransaction', 'lost');
      await leader.close();

      // Nothing the third tab wrote in turn failed, was lost or was written twice (a second insert of
      // one id would fail on its primary key).
      expect(await writing).toEqual([]);
      expect(await callPage(third, 'count', 'c')).toBe(60);
      // The follower's transaction closed with the leader: its next statement fails, Drizzle rolls back.
      expect(await callPage(follower, 'endTransaction', false)).toMatch(/^LeaderChangedError: the transaction was rolled back/);
      const rows = await ids(follower);
      expect(rows.filter((id) => id.startsWith('lost'))).toEqual([]);
      expect(rows.filter((id) => id.startsWith('a-'))).toHaveLength(20);
      // Both remaining tabs keep working, on one database.
      await callPage(follower, 'add', 'after-1', 'after the leader closed');
      await callPage(third, 'add', 'after-2', 'after the leader closed');
      expect((await ids(third)).filter((id) => id.startsWith('after-'))).toEqual(['after-1', 'after-2']);
      expect(await callPage(third, 'integrityCheck')).toEqual(['ok']);
      expect(await callPage(follower, 'integrityCheck')).toEqual(['ok']);
    } finally {
      await context.close();
    }
  }, 180_000);
});
