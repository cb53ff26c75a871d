import superjson from 'superjson';
import { eq } from 'drizzle-orm';
import { integer, text } from 'drizzle-orm/sqlite-core';
import { describe, expect, it } from 'vitest';
import {
  buildOplogEntry,
  countQuarantined,
  defineSyncedTable,
  migrateDatabase,
  getDeviceId,
  getOplogEntriesSince,
  InvalidCursorError,
  InvalidEntryError,
  localApply,
  merge,
  type OplogEntry,
} from '../../src/index.ts';
import { formatHlc, packHlc } from '../../src/clock/index.ts';
import { caught, fileImage, dump, openDevice } from '../helpers/db.ts';
import type { Dev } from '../helpers/shaped.ts';
import { counters, todos } from '../helpers/schema.ts';
import { cellsOf, delta, writesOf, type Write } from '../helpers/entries.ts';

const T0 = Date.UTC(2026, 10, 1);
const entry = (over: Partial<Write>): OplogEntry =>
  delta({
    table: 'todos',
    pk: 'r1',
    op: 'update',
    hlc: formatHlc(packHlc(T0, 0)),
    device: 'device-x',
    cl: 1,
    values: {},
    ...over,
  });
const at = (ms: number, counter = 0) => formatHlc(packHlc(T0 + ms, counter));
/** A device whose synced table `checked` has a CHECK constraint merge values can violate. */
function deviceWithCheckedTable() {
  const a = openDevice('a');
  a.$connection.exec(`CREATE TABLE checked (id text PRIMARY KEY NOT NULL, n integer CHECK (n >= 0))`);
  const checked = defineSyncedTable('checked', { id: text('id').primaryKey(), n: integer('n') });
  migrateDatabase(a, { schema: { checked } });
  return a;
}
const row = (db: Dev, id: string) => db.$connection.prepare('SELECT * FROM todos WHERE id = ?').get(id);

describe('merge', () => {
  it('applies per-cell last-write-wins by HLC, then device id', () => {
    const a = openDevice('a');
    merge(a, [entry({ op: 'insert', values: { title: 'first', done: 0n } , hlc: at(0) })]);
    merge(a, [
      entry({ values: { title: 'later' }, hlc: at(10) }),
      entry({ values: { title: 'earlier' }, hlc: at(5) }),
      entry({ values: { done: 1n }, hlc: at(10), device: 'device-a' }),
      entry({ values: { done: 2n }, hlc: at(10), device: 'device-b' }),
    ]);
    expect(row(a, 'r1')).toMatchObject({ title: 'later', done: 2n });
    // The same entries in another order give the same row.
    const b = openDevice('b');
    merge(b, [
      entry({ values: { done: 2n }, hlc: at(10), device: 'device-b' }),
      entry({ values: { title: 'earlier' }, hlc: at(5) }),
      entry({ op: 'insert', values: { title: 'first', done: 0n }, hlc: at(0) }),
    ]);
    merge(b, [entry({ values: { done: 1n }, hlc: at(10), device: 'device-a' }), entry({ values: { title: 'later' }, hlc: at(10) })]);
    expect(dump(b, 'todos')).toEqual(dump(a, 'todos'));
  });

  it('creates a row from a column change it has not seen, other columns at their defaults', () => {
    const a = openDevice('a');
    const result = merge(a, [entry({ pk: 'new', values: { score: 2.5 } })]);
    expect(result.applied).toBe(1);
    expect(row(a, 'new')).toMatchObject({ id: 'new', title: '', done: 0n, score: 2.5, data: null });
  });

  it('lets a delete win over a concurrent update, and a re-insert win over the delete', () => {
    const a = openDevice('a');
    merge(a, [entry({ op: 'insert', values: { title: 'v1' }, hlc: at(0) })]);
    merge(a, [entry({ op: 'delete', cl: 2, hlc: at(5) }), entry({ values: { title: 'concurrent edit' }, cl: 1, hlc: at(9) })]);
    expect(row(a, 'r1')).toBeUndefined();
    merge(a, [entry({ values: { title: 'late edit' }, cl: 1, hlc: at(50) })]);
    expect(row(a, 'r1')).toBeUndefined();
    merge(a, [entry({ op: 'insert', cl: 3, values: { title: 'reborn' }, hlc: at(20) })]);
    expect(row(a, 'r1')).toMatchObject({ title: 'reborn', done: 0n });
    // An update from the old incarnation does not override the new one, whatever its stamp.
    merge(a, [entry({ values: { title: 'stale' }, cl: 1, hlc: at(99) })]);
    expect(row(a, 'r1')).toMatchObject({ title: 'reborn' });
    expect(getOplogEntriesSince(a).entries.filter((e) => e.pk === 'r1').map((e) => [e.cl, writesOf([e]).map((w) => w.values)])).toEqual([[3, [{ title: 'reborn' }]]]);
  });

  it('resets columns of an older incarnation when a newer one arrives partially', () => {
    const a = openDevice('a');
    merge(a, [entry({ op: 'insert', values: { title: 'old', done: 1n }, hlc: at(0) })]);
    merge(a, [entry({ values: { title: 'new life' }, cl: 3, hlc: at(30) })]);
    expect(row(a, 'r1')).toMatchObject({ title: 'new life', done: 0n });
  });

  it('logs a row whose cells carry several stamps once, and keeps every stamp', () => {
    const a = openDevice('a');
    const b = openDevice('b');
    merge(a, [
      entry({ op: 'insert', values: { title: 'one', done: 0n }, hlc: at(0), device: 'device-x' }),
      entry({ values: { done: 1n }, hlc: at(10), device: 'device-y' }),
    ]);
    const logged = a.$connection.prepare("SELECT count(*) AS n, max(more IS NOT NULL) AS grouped FROM ahenk_oplog WHERE pk = 'r1'").get();
    expect(logged).toEqual({ n: 1n, grouped: 1n });

    // The export gives each stamp back with the cells it wrote, as one entry of two groups...
    expect(getOplogEntriesSince(a).entries).toHaveLength(1);
    const exported = writesOf(getOplogEntriesSince(a).entries).map((e) => [e.hlc, e.device, e.values]);
    expect(exported).toEqual(
      expect.arrayContaining([
        [at(0), 'device-x', { title: 'one' }],
        [at(10), 'device-y', { done: 1n }],
      ]),
    );
    expect(exported).toHaveLength(2);
    // ...and merge compares against each: a write between the two stamps beats title, not done.
    merge(a, [entry({ values: { title: 'two', done: 0n }, hlc: at(5), device: 'device-z' })]);
    expect(row(a, 'r1')).toMatchObject({ title: 'two', done: 1n });

    // A second hop keeps them too.
    merge(b, getOplogEntriesSince(a).entries);
    expect(dump(b, 'todos')).toEqual(dump(a, 'todos'));
    merge(b, [entry({ values: { done: 7n }, hlc: at(9), device: 'device-z' })]);
    expect(row(b, 'r1')).toMatchObject({ done: 1n });
  });

  it('merges new rows of a table wider than a 31-bit mask, each cell from the entry that set it', () => {
    const a = openDevice('a');
    const names = Array.from({ length: 40 }, (_, i) => `c${i}`);
    a.$connection.exec(`CREATE TABLE wide (id text PRIMARY KEY NOT NULL, ${names.map((n) => `${n} integer`).join(', ')})`);
    const wide = defineSyncedTable('wide', { id: text('id').primaryKey(), ...Object.fromEntries(names.map((n) => [n, integer(n)])) });
    migrateDatabase(a, { schema: { wide } });
    const low = Object.fromEntries(names.slice(0, 35).map((n, i) => [n, BigInt(i)]));
    merge(a, [
      entry({ table: 'wide', pk: 'w', op: 'insert', hlc: at(0), values: low }),
      entry({ table: 'wide', pk: 'w', hlc: at(5), values: { c38: 380n, c39: 390n } }),
    ]);
    const got = a.$connection.prepare('SELECT * FROM wide').get();
    expect(got).toMatchObject({ c0: 0n, c34: 34n, c35: null, c38: 380n, c39: 390n });
    // Both stamps are kept: an export gives each back with its own cells.
    expect(writesOf(getOplogEntriesSince(a).entries.filter((e) => e.table === 'wide')).map((e) => [e.hlc, Object.keys(e.values).length]).sort()).toEqual([
      [at(0), 35],
      [at(5), 2],
    ]);
  });

  it('is idempotent: a duplicate changes nothing and logs nothing', () => {
    const a = openDevice('a');
    const batch = [entry({ op: 'insert', values: { title: 'x' } })];
    expect(merge(a, batch).applied).toBe(1);
    const logged = a.$connection.prepare('SELECT count(*) FROM ahenk_oplog').value();
    expect(merge(a, batch)).toMatchObject({ applied: 0, unchanged: 1 });
    expect(a.$connection.prepare('SELECT count(*) FROM ahenk_oplog').value()).toBe(logged);
  });

  it('joins resolver columns (max, union) whatever the stamps', () => {
    const a = openDevice('a');
    const c = (over: Partial<Write>) => entry({ table: 'counters', pk: 'c1', ...over });
    merge(a, [c({ op: 'insert', values: { high: 10n, tags: '["a"]', note: 'n1' }, hlc: at(0) })]);
    merge(a, [c({ values: { high: 3n, tags: '["b"]', note: 'n2' }, hlc: at(50) })]);
    merge(a, [c({ values: { high: 7n, tags: '["a","c"]' }, hlc: at(90) })]);
    const got = a.$connection.prepare('SELECT high, tags, note FROM counters').get();
    expect(got).toEqual({ high: 10n, tags: '["a","b","c"]', note: 'n2' });
  });

  it('the same write delivered again leaves a resolver column as it is (union of a value that is not a set)', () => {
    const c = (over: Partial<Write>) => entry({ table: 'counters', pk: 'c1', ...over });
    // A resent window delivers a write again; union joined the value with itself: blob, then '[""]'.
    for (const tags of [new Uint8Array([]), new Uint8Array([1, 2]), 'plain', '["b","a"]']) {
      const write = c({ op: 'insert', values: { tags }, hlc: at(10) });
      const b = openDevice(`b-${String(tags)}`);
      merge(b, [write]);
      const once = dump(b, 'counters');
      expect(merge(b, [write])).toMatchObject({ applied: 0, unchanged: 1 });
      merge(b, [write, write]);
      expect(dump(b, 'counters'), String(tags)).toEqual(once);
    }
  });

  it('round-trips every storage class exactly', () => {
    const a = openDevice('a');
    const b = openDevice('b');
    const values = [null, 0n, -1n, 2n ** 62n + 1n, -(2n ** 63n), 2n ** 63n - 1n, 1.5, 1.0, -0.25, 1e300, 'text', 'ünïcødé 🚀', '', new Uint8Array([0, 255, 1]), new Uint8Array([])];
    const insert = a.$connection.prepare('INSERT INTO todos (id, data) VALUES (?, ?)');
    values.forEach((v, i) => insert.run(`v${i}`, v));
    const wire = superjson.parse<OplogEntry[]>(superjson.stringify(getOplogEntriesSince(a).entries));
    merge(b, wire);
    const typed = (db: typeof a) => db.$connection.prepare('SELECT id, data, typeof(data) AS t FROM todos ORDER BY id').all();
    expect(typed(b)).toEqual(typed(a));
    expect((typed(b) as { t: string }[]).map((r) => r.t)).toContain('integer');
    expect(dump(b, 'todos')).toEqual(dump(a, 'todos'));
  });

  it('carries an empty blob it read itself to a peer as an empty blob, not NULL', () => {
    // node:sqlite hands out an empty BLOB as a Uint8Array it would bind as NULL.
    const a = openDevice('a');
    const b = openDevice('b');
    a.$connection.prepare("INSERT INTO todos (id, data) VALUES ('e', x'')").run();
    merge(b, getOplogEntriesSince(a).entries);
    expect(b.$connection.prepare("SELECT typeof(data) FROM todos WHERE id = 'e'").value()).toBe('blob');
    expect(dump(b, 'todos')).toEqual(dump(a, 'todos'));
  });

  it('quarantines entries for unknown tables and columns instead of dropping them', () => {
    const a = openDevice('a');
    const result = merge(a, [
      entry({ table: 'future_table', values: { x: 1n } }),
      entry({ op: 'insert', values: { title: 'known', color: 'red' } }),
    ]);
    expect(result.quarantined.map((q) => q.reason)).toEqual(['unknown-table', 'unknown-column']);
    expect(row(a, 'r1')).toMatchObject({ title: 'known' });
    expect(countQuarantined(a)).toBe(2);
  });

  it('quarantines and reports entries stamped beyond the drift bound', () => {
    const a = openDevice('a');
    const now = () => T0;
    const result = merge(a, [entry({ op: 'insert', values: { title: 'from the future' }, hlc: at(10 * 60_000) })], { now });
    expect(result.quarantined).toMatchObject([{ reason: 'clock-drift' }]);
    expect(result.errors[0]?.code).toBe('CLOCK_DRIFT');
    expect(row(a, 'r1')).toBeUndefined();
    expect(countQuarantined(a)).toBe(1);
    expect(a.$connection.prepare('SELECT hlc FROM ahenk_clock').value()).toBe(0n);
  });

  describe('rejects bad input with a typed error and leaves the database byte-for-byte unchanged', () => {
    /** A valid entry with its one group changed. */
    const group = (over: Record<string, unknown>, base: OplogEntry = entry({})) => ({ ...base, groups: [{ ...base.groups[0]!, ...over }] });
    const inherited = Object.create({ groups: entry({}).groups }) as Record<string, unknown>;
    Object.assign(inherited, { table: 'todos', pk: 'r1', cl: 1 });
    const bad: [string, unknown][] = [
      ['not an object', 42],
      ['no groups', { ...entry({}), groups: [] }],
      ['groups not an array', { ...entry({}), groups: { 0: entry({}).groups[0] } }],
      ['groups only inherited', inherited],
      ['a group not an object', { ...entry({}), groups: ['x'] }],
      ['bad hlc', group({ hlc: 'yesterday' })],
      ['hlc with upper-case hex', group({ hlc: '0000000000ABCDEF' })],
      ['negative causal length', { ...entry({}), cl: -1 }],
      ['a deleted incarnation with two groups', { ...entry({ op: 'delete', cl: 2 }), groups: [...entry({ cl: 2 }).groups, ...entry({ cl: 2, hlc: at(1) }).groups] }],
      ['values of a wrong type', group({ values: { title: { nested: true } } })],
      ['boolean value', group({ values: { done: true } })],
      ['NaN value', group({ values: { score: Number.NaN } })],
      ['integer beyond 64 bits', group({ values: { done: 2n ** 64n } })],
      ['a delete with values', group({ values: { title: 'x' } }, entry({ op: 'delete', cl: 2 }))],
      ['empty device', group({ device: '' })],
      ['pk not a string', { ...entry({}), pk: 7 }],
      ['values an array', group({ values: ['x'] })],
      ['one column in two groups', { ...entry({}), groups: [...entry({ values: { title: 'a' } }).groups, ...entry({ values: { title: 'b' }, hlc: at(1) }).groups] }],
      ['a group without values beside others', { ...entry({}), groups: [...entry({ values: { title: 'a' } }).groups, ...entry({ hlc: at(1) }).groups] }],
      ['more groups than columns', { ...entry({}), groups: Array.from({ length: 63 }, (_, i) => ({ hlc: at(i), device: 'd', values: { [`c${i}`]: 1n } })) }],
      ['more cells than columns', { ...entry({}), groups: Array.from({ length: 2 }, (_, g) => ({ hlc: at(g), device: 'd', values: Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`c${g}_${i}`, 1n])) })) }],
    ];
    for (const [name, value] of bad) {
      it(name, () => {
        const a = openDevice('a');
        a.insert(todos).values({ id: 'keep', title: 'me' }).run();
        const before = fileImage(a);
        const error = caught(() => merge(a, [entry({ op: 'insert', pk: 'ok', values: { title: 'valid first' } }), value]));
        expect(error).toBeInstanceOf(InvalidEntryError);
        expect((error as InvalidEntryError).code).toBe('ENTRY_INVALID');
        expect((error as InvalidEntryError).index).toBe(1);
        expect(Buffer.compare(fileImage(a), before)).toBe(0);
      });
    }

    it('NULL for a NOT NULL column, and values a CHECK constraint refuses, roll the batch back', () => {
      const a = deviceWithCheckedTable();
      const before = fileImage(a);
      for (const bad of [entry({ pk: 'bad', values: { title: null } }), entry({ table: 'checked', pk: 'c', values: { n: -1n } })]) {
        const error = caught(() => merge(a, [entry({ op: 'insert', pk: 'ok', values: { title: 'x' } }), bad]));
        expect(error).toBeInstanceOf(InvalidEntryError);
        expect((error as InvalidEntryError).index).toBe(1);
        expect(Buffer.compare(fileImage(a), before)).toBe(0);
      }
    });

    it('names the entry at fault inside a batch of new rows written together', () => {
      const a = deviceWithCheckedTable();
      const before = fileImage(a);
      const batch = Array.from({ length: 150 }, (_, i) => entry({ table: 'checked', pk: `c${i}`, op: 'insert', values: { n: i === 70 ? -1n : BigInt(i) } }));
      const error = caught(() => merge(a, batch));
      expect(error).toBeInstanceOf(InvalidEntryError);
      expect((error as InvalidEntryError).index).toBe(70);
      expect((error as InvalidEntryError).message).toMatch(/refused row "c70"/);
      expect(Buffer.compare(fileImage(a), before)).toBe(0);
      merge(a, batch.filter((_, i) => i !== 70));
      expect(a.$connection.prepare('SELECT count(*) FROM checked').value()).toBe(149n);
    });

    it('a cursor it did not produce', () => {
      const a = openDevice('a');
      for (const cursor of ['abc', '-1', '1.5', '99999999999999999999', ' 1']) {
        expect(() => getOplogEntriesSince(a, cursor)).toThrow(InvalidCursorError);
      }
    });
  });
});

describe('getOplogEntriesSince', () => {
  it('returns only what is newer than the cursor, and nothing when nothing changed', () => {
    const a = openDevice('a');
    a.insert(todos).values({ id: 'a1', title: 'one' }).run();
    const first = getOplogEntriesSince(a);
    expect(first.entries).toHaveLength(1);
    expect(getOplogEntriesSince(a, first.cursor)).toEqual({ entries: [], cursor: first.cursor });
    a.update(todos).set({ title: 'two' }).where(eq(todos.id, 'a1')).run();
    a.insert(todos).values({ id: 'a2' }).run();
    const second = getOplogEntriesSince(a, first.cursor);
    expect(second.entries.map((e) => [e.pk, e.cl, e.groups.map((g) => Object.keys(g.values))])).toEqual([
      ['a1', 1, [['title']]],
      ['a2', 1, [['title', 'done', 'score', 'data']]],
    ]);
  });

  it('reads values right whether it looks rows up by key or passes over the whole table', () => {
    // From 5000 wanted rows, at least half the table, export reads the table in one pass.
    const a = openDevice('a');
    const b = openDevice('b');
    const insert = a.$connection.prepare('INSERT INTO todos (id, title, done) VALUES (?, ?, ?)');
    a.$connection.transaction(() => {
      for (let i = 0; i < 12_000; i++) insert.run(`r${String(i).padStart(5, '0')}`, `t${i}`, BigInt(i % 3));
    });
    a.$connection.prepare(`DELETE FROM todos WHERE id < 'r00200'`).run();
    const first = getOplogEntriesSince(a); // 11800 wanted of 11800: one pass
    merge(b, first.entries);
    expect(dump(b, 'todos')).toEqual(dump(a, 'todos'));
    a.$connection.prepare(`UPDATE todos SET title = title || '!' WHERE id < 'r06000'`).run(); // 5800 of 11800: by key
    const second = getOplogEntriesSince(a, first.cursor);
    expect(second.entries).toHaveLength(5800);
    merge(b, second.entries);
    a.$connection.prepare(`UPDATE todos SET done = 7 WHERE id >= 'r05000'`).run(); // 7000 of 11800: one pass
    merge(b, getOplogEntriesSince(a, second.cursor).entries);
    expect(dump(b, 'todos')).toEqual(dump(a, 'todos'));
  });

  it('pages with a limit and resumes exactly after each page', () => {
    const a = openDevice('a');
    const b = openDevice('b');
    for (let i = 0; i < 25; i++) a.insert(todos).values({ id: `p${String(i).padStart(2, '0')}`, title: `t${i}` }).run();
    let cursor: string | undefined;
    let pages = 0;
    for (;;) {
      const page = getOplogEntriesSince(a, cursor, { limit: 10 });
      if (page.entries.length === 0) break;
      expect(page.entries.length).toBeLessThanOrEqual(10);
      merge(b, page.entries);
      cursor = page.cursor;
      pages++;
    }
    expect(pages).toBe(3);
    expect(dump(b, 'todos')).toEqual(dump(a, 'todos'));
  });
});

describe('buildOplogEntry and localApply', () => {
  it('apply a local write through the merge rules and log it for export', () => {
    const a = openDevice('a');
    const me = getDeviceId(a.$connection);
    localApply(a, buildOplogEntry(me, 'todos', 'insert', { id: 'm1', title: 'manual', done: 1n }));
    expect(row(a, 'm1')).toMatchObject({ title: 'manual', done: 1n });
    localApply(a, buildOplogEntry(me, 'todos', 'delete', { id: 'm1' }));
    expect(row(a, 'm1')).toBeUndefined();
    localApply(a, buildOplogEntry(me, 'todos', 'insert', { id: 'm1', title: 'again' }));
    expect(row(a, 'm1')).toMatchObject({ title: 'again' });
    const exported = getOplogEntriesSince(a).entries;
    expect(exported).toMatchObject([{ pk: 'm1', cl: 3, groups: [{ device: me, values: { title: 'again' } }] }]);
    const b = openDevice('b');
    merge(b, exported);
    expect(dump(b, 'todos')).toEqual(dump(a, 'todos'));
  });

  it('validates what it builds', () => {
    expect(() => buildOplogEntry('dev', 'todos', 'insert', { title: 'no key' })).toThrow(InvalidEntryError);
    expect(() => buildOplogEntry('dev', 'todos', 'update', { id: 'x', bad: true as never })).toThrow(InvalidEntryError);
    expect(buildOplogEntry('dev', 'counters', 'update', { key: 'k', high: 1n }, { pkColumn: 'key' })).toMatchObject({ pk: 'k', values: { high: 1n } });
    expect(counters).toBeDefined();
  });
});

describe('values with a prototype of their own', () => {
  it('uses only the entry\'s own, checked values: an enumerable inherited key is neither validated nor applied', () => {
    const db = openDevice('proto');
    const inherited = Object.create({ done: 'not an integer', score: { not: 'a value' } }) as Record<string, unknown>;
    inherited.title = 'own';
    const entry = { table: 'todos', pk: 'p1', cl: 1, groups: [{ hlc: formatHlc(packHlc(Date.now() - 1000, 0)), device: 'peer', values: inherited }] };
    merge(db, [entry]);
    expect(db.$connection.prepare('SELECT title, done, score FROM todos WHERE id = ?').get('p1')).toEqual({ title: 'own', done: 0n, score: null });
  });
});
