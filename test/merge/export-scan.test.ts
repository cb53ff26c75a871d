import { describe, expect, it } from 'vitest';
import { delta } from '../helpers/entries.ts';
import { buildOplogEntry, getDeviceId, getOplogEntriesSince, localApply, merge, type OplogEntry } from '../../src/index.ts';
import { formatHlc, packHlc } from '../../src/clock/index.ts';
import { dump, openDevice } from '../helpers/db.ts';

/** More log rows than one scan chunk (20,000) holds, so rows' entries fall in different chunks. */
const ROWS = 15_000;

describe('export', () => {
  it('gives each row the entries it would give from one chunk, and a peer converges from it whole or in windows', () => {
    const a = openDevice('a');
    const raw = a.$connection;
    const key = (i: number) => `row-${String(i).padStart(5, '0')}`;
    raw.transaction(() => {
      const insert = raw.prepare('INSERT INTO todos (id, title, done, score) VALUES (?, ?, 0, ?)');
      for (let i = 0; i < ROWS; i++) insert.run(key(i), `t${i}`, i / 4);
    });
    // Updates in reverse order put each row's second entry 15k-30k log rows after its first.
    raw.transaction(() => {
      const update = raw.prepare('UPDATE todos SET done = ? WHERE id = ?');
      for (let i = ROWS - 1; i >= 0; i--) update.run(i, key(i));
    });
    // A third entry for some rows, and deletes and re-inserts for others, in the last chunk.
    raw.transaction(() => {
      for (let i = 0; i < ROWS; i += 10) raw.prepare('UPDATE todos SET title = ? WHERE id = ?').run(`again ${i}`, key(i));
      for (let i = 5; i < ROWS; i += 100) raw.prepare('DELETE FROM todos WHERE id = ?').run(key(i));
      for (let i = 5; i < ROWS; i += 200) raw.prepare('INSERT INTO todos (id, title) VALUES (?, ?)').run(key(i), `back ${i}`);
    });
    expect(raw.prepare('SELECT count(*) FROM ahenk_oplog').value()).toBeGreaterThan(30_000);

    const { entries } = getOplogEntriesSince(a);
    const byRow = new Map<string, OplogEntry[]>();
    for (const e of entries) (byRow.get(e.pk) ?? byRow.set(e.pk, []).get(e.pk)!).push(e);
    // A row updated once: its insert without the updated column, then the update (log order).
    expect(byRow.get(key(1))!.map((e) => e.groups.map((g) => Object.keys(g.values).sort()))).toEqual([[['data', 'score', 'title'], ['done']]]);
    // A row updated twice: the title comes from the newest entry only.
    expect(byRow.get(key(10))!.map((e) => e.groups.map((g) => Object.keys(g.values).sort()))).toEqual([[['data', 'score'], ['done'], ['title']]]);
    // Deleted and gone: the delete alone. Deleted and back: the new incarnation alone.
    expect(byRow.get(key(105))!.map((e) => [e.cl, e.groups.map((g) => g.values)])).toEqual([[2, [{}]]]);
    expect(byRow.get(key(205))!.map((e) => [e.cl, e.groups.map((g) => Object.keys(g.values).sort())])).toEqual([[3, [['data', 'done', 'score', 'title']]]]);
    // One entry per row, its groups in log order.
    for (const rowEntries of byRow.values()) {
      expect(rowEntries).toHaveLength(1);
      const stamps = rowEntries[0]!.groups.map((g) => g.hlc);
      expect(stamps).toEqual(stamps.slice().sort());
    }

    const whole = openDevice('whole');
    merge(whole, entries);
    expect(dump(whole, 'todos')).toEqual(dump(a, 'todos'));

    const windowed = openDevice('windowed');
    let cursor: string | undefined;
    for (let batch = 0; batch < 100; batch++) {
      const out = getOplogEntriesSince(a, cursor, { limit: 7_000 });
      if (out.entries.length === 0) break;
      merge(windowed, out.entries);
      cursor = out.cursor;
    }
    expect(dump(windowed, 'todos')).toEqual(dump(a, 'todos'));
  }, 60_000);

  it('reads a table most of which is in the window in one pass, and exports only the rows the window touched', () => {
    const a = openDevice('a');
    const raw = a.$connection;
    const key = (i: number) => `k${String(i).padStart(5, '0')}`;
    raw.transaction(() => {
      const insert = raw.prepare('INSERT INTO todos (id, title, done) VALUES (?, ?, 0)');
      for (let i = 0; i < 8000; i++) insert.run(key(i), `t${i}`);
    });
    const before = getOplogEntriesSince(a).cursor;
    // 6,010 log rows after the cursor, for a table of 8,000 rows: its values are read before the scan.
    raw.transaction(() => {
      for (let i = 0; i < 6000; i++) raw.prepare('UPDATE todos SET done = ? WHERE id = ?').run(i + 1, key(i));
      for (let i = 7000; i < 7010; i++) raw.prepare('DELETE FROM todos WHERE id = ?').run(key(i));
    });
    const { entries } = getOplogEntriesSince(a, before);
    expect(entries).toHaveLength(6010);
    const updates = entries.filter((e) => e.cl === 1);
    expect(updates.map((e) => e.pk)).toEqual(Array.from({ length: 6000 }, (_, i) => key(i)));
    expect(updates.every((e, i) => e.groups.length === 1 && Object.keys(e.groups[0]!.values).join() === 'done' && e.groups[0]!.values.done === BigInt(i + 1))).toBe(true);
    expect(entries.filter((e) => e.cl === 2).map((e) => [e.pk, e.groups.map((g) => g.values)])).toEqual(Array.from({ length: 10 }, (_, i) => [key(7000 + i), [{}]]));

    // A peer that had everything up to the cursor ends equal, whole or in windows too small for the one pass.
    for (const limit of [undefined, 3000]) {
      const b = openDevice(`b${limit ?? ''}`);
      merge(b, getOplogEntriesSince(a, undefined, { limit: 8000 }).entries);
      let cursor = before;
      for (let batch = 0; batch < 10; batch++) {
        const out = getOplogEntriesSince(a, cursor, limit === undefined ? {} : { limit });
        if (out.entries.length === 0) break;
        merge(b, out.entries);
        cursor = out.cursor;
      }
      expect(dump(b, 'todos')).toEqual(dump(a, 'todos'));
    }
  }, 60_000);

  it('keeps keys exact through the JSON scan: quotes, backslashes, control characters, any script', () => {
    const a = openDevice('a');
    const keys = ['ключ "q"', 'back\\slash', 'tab\tnew\nline\u0001', '😀 emoji', '', ' ', '{"json": [1]}', 'x'.repeat(4000)];
    for (const id of keys) a.$connection.prepare('INSERT INTO todos (id, title) VALUES (?, ?)').run(id, id);
    const { entries } = getOplogEntriesSince(a);
    expect(entries.map((e) => e.pk).sort()).toEqual([...keys].sort());
    const b = openDevice('b');
    merge(b, entries);
    expect(dump(b, 'todos')).toEqual(dump(a, 'todos'));
  });

  it('sends a row that exists only by its key (no column set), and a peer relays it', () => {
    const a = openDevice('a');
    const b = openDevice('b');
    const c = openDevice('c');
    localApply(a, buildOplogEntry(getDeviceId(a.$connection), 'todos', 'insert', { id: 'bare' }));
    merge(b, [delta({ table: 'todos', pk: 'from-peer', op: 'update', hlc: formatHlc(packHlc(Date.now() - 1000, 0)), device: 'peer', cl: 1, values: {} })]);
    merge(b, getOplogEntriesSince(a).entries);
    expect(dump(b, 'todos').map((row) => (row as { id: string }).id)).toEqual(['bare', 'from-peer']);
    merge(c, getOplogEntriesSince(b).entries);
    expect(dump(c, 'todos')).toEqual(dump(b, 'todos'));
    // Sent again, the bare entries change nothing.
    expect(merge(c, getOplogEntriesSince(b).entries).applied).toBe(0);
  });
});
