/**
 * The node's retry of held-back entries without the network (src/sync/node/held-retry.ts), on a
 * real database with a clock the test moves: due entries are applied a slice at a time with the
 * event loop free in between, entries not due yet stay, and a schema change made where nothing
 * retried (capture installed for a new column) lets the next look apply what waited for it.
 */
import { describe, expect, it } from 'vitest';
import { countQuarantined, merge, type OplogEntry } from '../../src/index.ts';
import { formatHlc, packHlc } from '../../src/clock/timestamp.ts';
import { installCapture } from '../../src/capture/install.ts';
import { syncedTablesOf } from '../../src/schema/synced-table.ts';
import { SYSTEM_SYNCED_TABLES } from '../../src/schema/system.ts';
import { resolveConfig } from '../../src/sync/node/config.ts';
import { RETRY_SLICE_ENTRIES } from '../../src/sync/node/constants.ts';
import { SyncNodeEmitter, type ClockDriftEvent } from '../../src/sync/node/events.ts';
import { HeldEntryRetry } from '../../src/sync/node/held-retry.ts';
import { openDevice } from '../helpers/db.ts';
import { tabTurn } from './helpers.ts';
import { todosWithExtra } from '../helpers/schema.ts';
import { waitFor } from '../net/fixtures.ts';

const T = Date.now() - 3_600_000;

function ahead(pk: string, ms: number, values: Record<string, string> = { title: pk }): OplogEntry {
  return { table: 'todos', pk, cl: 1, groups: [{ hlc: formatHlc(packHlc(ms, 0)), device: 'peer-a', values }] };
}

describe('HeldEntryRetry', () => {
  it('applies due entries a slice at a time, leaves the others, and retries everything after a schema change', async () => {
    const b = openDevice('b');
    let wall = T;
    const stop = new AbortController();
    const lines: string[] = [];
    const config = resolveConfig({ now: () => wall, maxDriftMs: 1_000, log: (line) => lines.push(line) });
    const events = new SyncNodeEmitter();
    const drift: ClockDriftEvent[] = [];
    events.on('clock:drift', (e) => drift.push(e));
    const count = RETRY_SLICE_ENTRIES * 2 + 500;
    const soon = Array.from({ length: count }, (_, i) => ahead(`soon-${i}`, T + 10_000));
    const later = [ahead('later', T + 3_600_000)];
    const column = [ahead('col', T - 5_000, { extra: 'waits for its column' })];
    merge(b, [...soon, ...later, ...column], { now: () => wall, maxDriftMs: 1_000 });
    expect(countQuarantined(b)).toBe(count + 2);
    const retry = new HeldEntryRetry(b.$connection, config, events, stop.signal);
    try {
      retry.run();
      expect(countQuarantined(b)).toBe(count + 2);

      wall = T + 9_500;
      retry.run();
      // One slice ran at once; the rest come on later turns of the event loop.
      expect(countQuarantined(b)).toBe(count + 2 - RETRY_SLICE_ENTRIES);
      await waitFor(() => countQuarantined(b) === 2, 10_000, 'every due entry applied');
      expect(b.$connection.prepare(`SELECT count(*) FROM todos WHERE id LIKE 'soon-%'`).value()).toBe(BigInt(count));
      expect(lines.some((line) => line.startsWith(`applied ${count} held-back entries`))).toBe(true);

      // Another process adds the column and installs capture for it, and retries nothing itself.
      b.$connection.exec('ALTER TABLE todos ADD COLUMN extra text');
      installCapture(b.$connection, [...SYSTEM_SYNCED_TABLES, ...syncedTablesOf({ todos: todosWithExtra })]);
      retry.run();
      await waitFor(() => countQuarantined(b) === 1, 10_000, 'the entry for the new column applied');
      expect(b.$connection.prepare(`SELECT extra FROM todos WHERE id = 'col'`).value()).toBe('waits for its column');
      expect(b.$connection.prepare(`SELECT count(*) FROM todos WHERE id = 'later'`).value()).toBe(0n);
      expect(drift).toEqual([]);
    } finally {
      stop.abort();
    }
  }, 60_000);

  it('tells of a held row it cannot read, once, and tries again at the next look rather than at once', async () => {
    const b = openDevice('b');
    const wall = Date.now();
    b.$connection
      .prepare(`INSERT INTO ahenk_quarantine (table_name, reason, entry, received_at, bytes, hlc, device) VALUES ('todos', 'clock-drift: x', x'01ff', 0, 2, ?, 'peer-a')`)
      .run(packHlc(wall - 1_000, 0));
    const stop = new AbortController();
    const events = new SyncNodeEmitter();
    const errors: Error[] = [];
    events.on('error', (e) => errors.push(e.error));
    const retry = new HeldEntryRetry(b.$connection, resolveConfig({ now: () => wall, maxDriftMs: 1_000 }), events, stop.signal);
    try {
      retry.run();
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ code: 'DATABASE_INVALID' });
      expect(countQuarantined(b)).toBe(1);
    } finally {
      stop.abort();
    }
  });

  it('tells once when its own stamps run ahead of its clock, and once when they are back', () => {
    const b = openDevice('b');
    let wall = Date.now();
    b.$connection.prepare('UPDATE ahenk_clock SET hlc = ? WHERE id = 0').run(packHlc(wall + 10_000, 0));
    const stop = new AbortController();
    const lines: string[] = [];
    const events = new SyncNodeEmitter();
    const drift: ClockDriftEvent[] = [];
    events.on('clock:drift', (e) => drift.push(e));
    const retry = new HeldEntryRetry(b.$connection, resolveConfig({ now: () => wall, maxDriftMs: 1_000, log: (l) => lines.push(l) }), events, stop.signal);
    try {
      retry.run();
      retry.run();
      expect(drift).toHaveLength(1);
      expect(drift[0]).toMatchObject({ direction: 'local-ahead', maxDriftMs: 1_000, held: 0 });
      expect(drift[0]!.aheadMs).toBeGreaterThan(9_000);
      wall += 10_000;
      retry.run();
      expect(drift).toHaveLength(1);
      expect(lines.filter((l) => l.startsWith('clock drift'))).toHaveLength(2);
      expect(lines.at(-1)).toMatch(/back inside the allowance/);
    } finally {
      stop.abort();
    }
  });

  it('given a turn (a browser tab may hold a transaction open on the connection), applies nothing inside that transaction and goes on once it ends', async () => {
    const b = openDevice('b');
    let wall = T;
    const stop = new AbortController();
    const lines: string[] = [];
    const config = resolveConfig({ now: () => wall, maxDriftMs: 1_000, log: (line) => lines.push(line) });
    merge(b, [ahead('due', T + 10_000)], { now: () => wall, maxDriftMs: 1_000 });
    expect(countQuarantined(b)).toBe(1);
    const connection = b.$connection;
    const { turn, waiting, wake } = tabTurn(connection);
    const retry = new HeldEntryRetry(connection, config, new SyncNodeEmitter(), stop.signal, turn);
    try {
      // The "tab": a transaction left open across awaits, then rolled back.
      connection.exec('BEGIN');
      connection.prepare(`INSERT INTO todos (id, title, done) VALUES ('tab', 'in the open transaction', 0)`).run();
      wall = T + 9_500;
      retry.run();
      await new Promise((resolve) => setTimeout(resolve, 50));
      connection.exec('ROLLBACK');
      // Nothing was applied in the tab's transaction (its rollback took nothing of sync's with it).
      expect(lines.filter((line) => line.startsWith('applied'))).toEqual([]);
      expect(waiting()).toBe(1);
      wake();
      await waitFor(() => countQuarantined(b) === 0, 5_000, 'the held entry applied after the rollback');
      expect(connection.prepare(`SELECT title FROM todos WHERE id = 'due'`).value()).toBe('due');
      expect(connection.prepare(`SELECT count(*) FROM todos WHERE id = 'tab'`).value()).toBe(0n);
    } finally {
      stop.abort();
    }
  });
});
