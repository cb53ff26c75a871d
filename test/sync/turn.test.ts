/**
 * A session given a DatabaseTurn (what the browser's leader passes: its connection is shared with
 * tabs whose transactions span several requests) applies no batch and exports no window while the
 * turn is not free, asks `free()` again after every wait (a wait that ends while someone else holds
 * the connection again is waited once more), and then syncs as usual, its cursor stored.
 */
import { describe, expect, it } from 'vitest';
import { createMemoryChannelPair, runSyncSession } from '../../src/transport.ts';
import type { DatabaseTurn } from '../../src/sync/session/turn.ts';
import { openDevice } from '../helpers/db.ts';
import { addTodos, delay, idOf } from './helpers.ts';

const ROWS = 500;

describe('a session that takes turns on a shared connection', () => {
  it('waits while another transaction is open on the connection, checks again after each wait, then applies and exports', async () => {
    const a = openDevice('a');
    const b = openDevice('b');
    addTodos(a, 'a', ROWS);
    const events: string[] = [];
    const { driver } = b.$connection;
    const exec = driver.exec.bind(driver);
    driver.exec = (sql) => {
      // merge nests one savepoint per batch: the first is the first apply on b's connection.
      if (/^\s*SAVEPOINT\b/i.test(sql) && !events.includes('apply')) events.push('apply');
      exec(sql);
    };
    // The "tab": a transaction on b's connection, with a row written in it, left open across awaits.
    b.$connection.exec('BEGIN');
    b.$connection.prepare(`INSERT INTO todos (id, title, done) VALUES ('held', 'in the open transaction', 0)`).run();
    // Both halves of b's session wait: the receiver to apply, the sender to export.
    let waiting: (() => void)[] = [];
    const wake = (): void => {
      const woken = waiting;
      waiting = [];
      for (const resolve of woken) resolve();
    };
    const turn: DatabaseTurn = {
      free: () => !b.$connection.inTransaction,
      wait: (signal) => {
        events.push('wait');
        return new Promise<void>((resolve, reject) => {
          waiting.push(resolve);
          signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        });
      },
    };

    const [ca, cb] = createMemoryChannelPair();
    const sessions = Promise.all([
      runSyncSession(a, ca, { localDeviceId: idOf(a), expectedRemoteDeviceId: idOf(b), batchSize: 100 }),
      runSyncSession(b, cb, { localDeviceId: idOf(b), expectedRemoteDeviceId: idOf(a), batchSize: 100, turn }),
    ]);
    await delay(300);
    // Batches have arrived and wait; nothing of a's is in b's open transaction, and b sent nothing of it.
    expect(events).toEqual(['wait', 'wait']);
    expect(b.$connection.prepare(`SELECT count(*) FROM todos WHERE id LIKE 'a-%'`).value()).toBe(0n);

    // The wait ends while the transaction is still open (another tab got in first): the session waits again.
    wake();
    await delay(100);
    expect(events).toEqual(['wait', 'wait', 'wait', 'wait']);

    b.$connection.exec('ROLLBACK');
    events.push('rollback');
    wake();
    const [ra, rb] = await sessions;
    expect(events).toEqual(['wait', 'wait', 'wait', 'wait', 'rollback', 'apply']);
    expect(rb.received).toBe(ROWS);
    expect(ra.received).toBe(0);
    expect(b.$connection.prepare(`SELECT count(*) FROM todos WHERE id LIKE 'a-%'`).value()).toBe(BigInt(ROWS));
    expect(a.$connection.prepare(`SELECT count(*) FROM todos WHERE id = 'held'`).value()).toBe(0n);
    // The cursor was stored with the rows: another session carries nothing.
    const [cc, cd] = createMemoryChannelPair();
    const [, again] = await Promise.all([
      runSyncSession(a, cc, { localDeviceId: idOf(a), expectedRemoteDeviceId: idOf(b) }),
      runSyncSession(b, cd, { localDeviceId: idOf(b), expectedRemoteDeviceId: idOf(a), turn }),
    ]);
    expect(again.received).toBe(0);
  });
});
