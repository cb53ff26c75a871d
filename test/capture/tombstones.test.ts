/**
 * Deletes over time (issue 12, item 7; docs/decisions.md "Tombstones are kept"): compaction never
 * forgets a delete, so a device that comes back after any time offline, with edits of rows the
 * others deleted meanwhile, converges with them (the delete's causal length wins over its edits),
 * and a re-insert of a deleted key on one device wins on all.
 */
import { describe, expect, it } from 'vitest';
import { compactOplog, getOplogEntriesSince, merge } from '../../src/index.ts';
import { dump, openDevice } from '../helpers/db.ts';

type Device = ReturnType<typeof openDevice>;
/** Everything `from` has that `to` lacks, as a sync would carry it (export from the start). */
const send = (from: Device, to: Device) => merge(to, getOplogEntriesSince(from).entries);

describe('tombstones are kept, and a returning device converges', () => {
  it('a device offline through deletes and many compactions: its edits of deleted rows lose, its new rows arrive', () => {
    const a = openDevice('a');
    const b = openDevice('b');
    const c = openDevice('c');
    const ids = Array.from({ length: 50 }, () => crypto.randomUUID());
    const insert = a.$connection.prepare(`INSERT INTO todos (id, title) VALUES (?, 'shared')`);
    for (const id of ids) insert.run(id);
    send(a, b);
    send(a, c);
    // C goes away. A deletes half the rows, the others edit rows, compaction runs again and again.
    for (const id of ids.slice(0, 25)) a.$connection.prepare('DELETE FROM todos WHERE id = ?').run(id);
    for (let round = 0; round < 5; round++) {
      for (const id of ids.slice(25)) a.$connection.prepare(`UPDATE todos SET title = ? WHERE id = ?`).run(`a${round}`, id);
      compactOplog(a, { full: true });
      send(a, b);
      compactOplog(b, { full: true });
    }
    // Every delete is still in A's log after the compactions: 25 tombstones.
    expect(a.$connection.prepare('SELECT count(*) FROM ahenk_oplog WHERE cl % 2 = 0').value()).toBe(25n);
    // C, offline all along, edited every row (later stamps than A's deletes) and added its own.
    for (const id of ids) c.$connection.prepare(`UPDATE todos SET title = 'c edit', done = 1 WHERE id = ?`).run(id);
    const own = crypto.randomUUID();
    c.$connection.prepare(`INSERT INTO todos (id, title) VALUES (?, 'from c')`).run(own);
    // C comes back.
    send(c, a);
    send(a, c);
    send(a, b);
    const rows = dump(a, 'todos');
    expect(rows).toEqual(dump(b, 'todos'));
    expect(rows).toEqual(dump(c, 'todos'));
    expect(rows.length).toBe(26);
    const alive = new Set((rows as { id: string }[]).map((r) => r.id));
    for (const id of ids.slice(0, 25)) expect(alive.has(id)).toBe(false);
    expect(alive.has(own)).toBe(true);
    // The three logs export the same thing.
    const exported = (d: Device) => JSON.stringify(getOplogEntriesSince(d).entries.sort((x, y) => (x.pk < y.pk ? -1 : 1)), (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
    expect(exported(a)).toBe(exported(c));
    expect(exported(b)).toBe(exported(c));
  });

  it('a key deleted, compacted, then inserted again on one device is alive on every device', () => {
    const a = openDevice('a2');
    const b = openDevice('b2');
    a.$connection.prepare(`INSERT INTO todos (id, title) VALUES ('theme', 'dark')`).run();
    send(a, b);
    b.$connection.prepare(`DELETE FROM todos WHERE id = 'theme'`).run();
    send(b, a);
    compactOplog(a, { full: true });
    compactOplog(b, { full: true });
    a.$connection.prepare(`INSERT INTO todos (id, title) VALUES ('theme', 'light')`).run();
    send(a, b);
    expect(dump(b, 'todos')).toEqual(dump(a, 'todos'));
    expect(dump(b, 'todos')).toMatchObject([{ id: 'theme', title: 'light' }]);
  });
});
