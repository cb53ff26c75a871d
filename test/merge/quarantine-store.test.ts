/**
 * How the quarantine stores what it holds (issue 12, defect 4): a compact binary form, in which a
 * blob costs its own size rather than a JSON array of numbers; rows held in the old superjson form
 * (schema version 2) still apply after migration 0002; the quarantine is bounded in entries and
 * bytes, and an entry over the bound refuses its whole batch (nothing lost, the cursor stays);
 * retryQuarantined takes due entries, and slices, as the running node asks.
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import superjson from 'superjson';
import { describe, expect, it } from 'vitest';
import {
  countQuarantined,
  initializeDatabase,
  merge,
  migrateDatabase,
  QUARANTINE_LIMITS,
  QuarantineFullError,
  retryQuarantined,
  type OplogEntry,
  type SqlValue,
} from '../../src/index.ts';
import { formatHlc, packHlc } from '../../src/clock/timestamp.ts';
import { SYSTEM_MIGRATIONS_FOLDER, SYSTEM_MIGRATIONS_TABLE } from '../../src/database/initialize.ts';
import { decodeHeldEntry, encodeHeldEntry } from '../../src/merge/held-codec.ts';
import { drizzleOverPort, migrateOverPort, openConnection } from '../../src/sqlite/index.ts';
import { SqliteSyncStore } from '../../src/sync/store/index.ts';
import { caught, openDevice, tempDir } from '../helpers/db.ts';
import { CREATE_TABLES, schema, todosWithExtra } from '../helpers/schema.ts';

/** A minute ago: retries that read the real clock (those of migrateDatabase) see these stamps as due. */
const NOW = Date.now() - 60_000;
const stamp = (ms: number, counter = 0): string => formatHlc(packHlc(ms, counter));
const now = () => NOW;

function entry(table: string, pk: string, values: Record<string, SqlValue>, hlc = stamp(NOW - 1000)): OplogEntry {
  return { table, pk, cl: 1, groups: [{ hlc, device: 'peer-a', values }] };
}

const fails = (fn: () => unknown) => caught(fn) as Error & { code: string };

const stored = (db: ReturnType<typeof openDevice>) =>
  db.$connection.prepare('SELECT typeof(entry) AS kind, length(entry) AS size, bytes FROM ahenk_quarantine ORDER BY id').all() as { kind: string; size: bigint; bytes: bigint }[];

describe('the quarantine stores entries compactly', () => {
  it('holds a 1 MiB blob in about 1 MiB, and gives it back exactly when the column arrives', () => {
    const b = openDevice('b');
    const blob = new Uint8Array(1 << 20).map((_, i) => (i * 31) & 0xff);
    const result = merge(b, [entry('todos', 't1', { title: 'pic', extra: blob })], { now });
    expect(result.quarantined).toMatchObject([{ reason: 'unknown-column' }]);
    const [row] = stored(b);
    expect(row!.kind).toBe('blob');
    // superjson wrote this blob as text of about 3.6 MiB ("[12,43,...]"), and took ~60x in memory.
    expect(Number(row!.size)).toBeLessThan((1 << 20) + 256);
    expect(Number(row!.bytes)).toBe(Number(row!.size));

    b.$connection.exec('ALTER TABLE todos ADD COLUMN extra text');
    migrateDatabase(b, { schema: { todos: todosWithExtra } });
    expect(countQuarantined(b)).toBe(0);
    const cell = b.$connection.prepare(`SELECT typeof(extra) AS kind, extra FROM todos WHERE id = 't1'`).get() as { kind: string; extra: Uint8Array };
    expect(cell.kind).toBe('blob');
    expect(Buffer.from(cell.extra).equals(blob)).toBe(true);
    expect(cell.extra.length).toBe(blob.length);
  });

  it('round-trips every storage class and any column name, and refuses bytes it did not write', () => {
    const values: Record<string, SqlValue> = {
      big: 2n ** 63n - 1n,
      small: -(2n ** 63n),
      zero: 0n,
      real: 1.5,
      negativeZero: -0,
      inf: Number.NEGATIVE_INFINITY,
      empty: '',
      text: 'ğüş 🙂 \u0000 end',
      none: null,
      nothing: new Uint8Array(0),
      bytes: new Uint8Array([0, 255, 7]),
    };
    Object.defineProperty(values, '__proto__', { value: 'own', enumerable: true, writable: true, configurable: true });
    values['constructor'] = 'c';
    const original: OplogEntry = {
      table: 'tâble',
      pk: 'k'.repeat(300),
      cl: 2 ** 53 - 1,
      groups: [
        { hlc: stamp(NOW, 65535), device: 'd1', values },
        { hlc: stamp(NOW + 1), device: 'd2', values: {} },
      ],
    };
    const bytes = encodeHeldEntry(original);
    const back = decodeHeldEntry(bytes);
    expect(back).toEqual(original);
    expect(Object.hasOwn(back.groups[0]!.values, '__proto__')).toBe(true);
    expect(Object.is(back.groups[0]!.values['negativeZero'], -0)).toBe(true);
    expect(typeof back.groups[0]!.values['zero']).toBe('bigint');
    expect(fails(() => decodeHeldEntry(bytes.subarray(0, bytes.length - 1))).code).toBe('DATABASE_INVALID');
    expect(fails(() => decodeHeldEntry(Buffer.concat([bytes, Buffer.from([0])]))).code).toBe('DATABASE_INVALID');
    expect(fails(() => decodeHeldEntry(Buffer.from([9]))).code).toBe('DATABASE_INVALID');
  });

  it('keeps the stored byte format: bytes written by the Buffer-based encoder decode, and are written again the same', () => {
    // Written by the encoder of 36813f3 (Node Buffer); a leading BOM stays, a lone surrogate was stored as U+FFFD.
    const hex =
      '010000000674c3a2626c650000000570f09f9982400c000000000000000000020123456789abcdef0000000464c3a97600000005000000016e00000000016901fffffffffffffffe' +
      '000000017202bfd000000000000000000001740300000009efbbbfc49fefbfbd780000000162040000000300ff07fedcba987654321000000002643200000000';
    const stored = Uint8Array.from(hex.match(/../g)!, (pair) => Number.parseInt(pair, 16));
    const expected: OplogEntry = {
      table: 'tâble',
      pk: 'p\u{1F642}',
      cl: 3.5,
      groups: [
        { hlc: '0123456789abcdef', device: 'dév', values: { n: null, i: -2n, r: -0.25, t: '\uFEFFğ\uFFFDx', b: new Uint8Array([0, 255, 7]) } },
        { hlc: 'fedcba9876543210', device: 'd2', values: {} },
      ],
    };
    const back = decodeHeldEntry(stored);
    expect(back).toEqual(expected);
    expect(Object.getPrototypeOf(back.groups[0]!.values['b'])).toBe(Uint8Array.prototype);
    expect(encodeHeldEntry(expected)).toEqual(stored);
    const withSurrogate = { ...expected, groups: [{ ...expected.groups[0]!, values: { ...expected.groups[0]!.values, t: '\uFEFFğ\uD800x' } }, expected.groups[1]!] };
    expect(encodeHeldEntry(withSurrogate)).toEqual(stored);
  });

  it('reads rows held in superjson before migration 0002, and stores them in the binary form from then on', () => {
    const dir = tempDir();
    const path = join(dir, 'old.db');
    // A database at Ahenk schema version 2: only the first two system migrations.
    const old = join(dir, 'migrations');
    cpSync(SYSTEM_MIGRATIONS_FOLDER, old, { recursive: true });
    const journalPath = join(old, 'meta', '_journal.json');
    const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: unknown[] };
    journal.entries = journal.entries.slice(0, 2);
    writeFileSync(journalPath, JSON.stringify(journal));
    const raw = openConnection(path);
    raw.exec(CREATE_TABLES);
    migrateOverPort(drizzleOverPort(raw), { migrationsFolder: old, migrationsTable: SYSTEM_MIGRATIONS_TABLE });
    const blob = new Uint8Array([1, 2, 3, 250]);
    const held = entry('todos', 'legacy', { extra: blob, title: 'x' });
    raw.prepare('INSERT INTO ahenk_quarantine (table_name, reason, entry, received_at) VALUES (?, ?, ?, ?)').run('todos', 'unknown-column: old', superjson.stringify(held), NOW);
    raw.close();

    const db = initializeDatabase(path, { schema });
    try {
      // Still not applicable (no column yet): held again, now as a blob with its size.
      const rows = db.$connection.prepare('SELECT typeof(entry) AS kind, bytes, length(entry) AS size FROM ahenk_quarantine').all() as { kind: string; bytes: bigint; size: bigint }[];
      expect(rows).toHaveLength(1);
      expect(rows[0]!.kind).toBe('blob');
      expect(rows[0]!.bytes).toBe(rows[0]!.size);
      db.$connection.exec('ALTER TABLE todos ADD COLUMN extra text');
      migrateDatabase(db, { schema: { todos: todosWithExtra } });
      const cell = db.$connection.prepare(`SELECT title, extra FROM todos WHERE id = 'legacy'`).get() as { title: string; extra: Uint8Array };
      expect(cell.title).toBe('x');
      expect(new Uint8Array(cell.extra)).toEqual(blob);
    } finally {
      db.$connection.close();
    }
  });
});

describe('the quarantine is bounded', () => {
  const filler = (db: ReturnType<typeof openDevice>, rows: number, bytesEach: number) =>
    db.$connection
      .prepare(
        `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
         INSERT INTO ahenk_quarantine (table_name, reason, entry, received_at, bytes) SELECT 'gone', 'unknown-table: filler', x'00', 0, ? FROM n`,
      )
      .run(rows, bytesEach);

  it('refuses a batch whose held entries would go over the byte bound, and applies nothing of it', () => {
    const b = openDevice('b');
    filler(b, 1, QUARANTINE_LIMITS.bytes - 1000);
    const batch = [entry('todos', 'ok', { title: 'fine' }), entry('todos', 'big', { title: 'x', extra: new Uint8Array(2000) })];
    const error = fails(() => merge(b, batch, { now }));
    expect(error).toBeInstanceOf(QuarantineFullError);
    expect(error.code).toBe('QUARANTINE_FULL');
    expect(error.message).toMatch(/quarantine is full .* sends it again later/);
    expect(b.$connection.prepare(`SELECT count(*) FROM todos`).value()).toBe(0n);
    expect(countQuarantined(b)).toBe(1);
    // Room again: the same batch applies.
    b.$connection.exec('DELETE FROM ahenk_quarantine');
    expect(merge(b, batch, { now })).toMatchObject({ applied: 2, quarantined: [{ reason: 'unknown-column' }] });
  });

  it('refuses a held entry over the entry bound', () => {
    const b = openDevice('b');
    filler(b, QUARANTINE_LIMITS.entries, 1);
    expect(fails(() => merge(b, [entry('later', 'x', { a: 1n })], { now }))).toBeInstanceOf(QuarantineFullError);
    b.$connection.exec('DELETE FROM ahenk_quarantine WHERE id = 1');
    expect(merge(b, [entry('later', 'x', { a: 1n })], { now }).quarantined).toHaveLength(1);
    expect(countQuarantined(b)).toBe(QUARANTINE_LIMITS.entries);
  });

  it('in a sync group: the batches before it commit with their cursor, the full one is refused for the peer to send again', () => {
    const b = openDevice('b');
    filler(b, QUARANTINE_LIMITS.entries, 1);
    const store = new SqliteSyncStore(b.$connection, { now });
    const group = store.applyBatches(
      'peer-a',
      [
        { entries: [entry('todos', 'first', { title: 'one' })], cursor: '10' },
        { entries: [entry('later', 'x', { a: 1n })], cursor: '20' },
      ],
      Number.POSITIVE_INFINITY,
    );
    expect(group.applied).toHaveLength(1);
    expect(group.refused?.code).toBe('PROTOCOL_INTERNAL');
    expect(group.refused?.message).toMatch(/quarantine is full/);
    expect(store.loadCursor('peer-a')).toBe('10');
    expect(b.$connection.prepare(`SELECT title FROM todos WHERE id = 'first'`).value()).toBe('one');
  });
});

describe('retryQuarantined, as the running node calls it', () => {
  it('takes only entries whose stamps are due, in slices, and leaves the rest where they are', () => {
    const b = openDevice('b');
    const ahead = (pk: string, ms: number) => entry('todos', pk, { title: pk }, stamp(NOW + ms));
    const held = merge(b, [ahead('s10', 10_000), ahead('s20', 20_000), ahead('s30', 30_000), entry('later', 'x', { a: 1n })], { now, maxDriftMs: 1000 });
    expect(held.quarantined.map((q) => q.reason)).toEqual(['clock-drift', 'clock-drift', 'clock-drift', 'unknown-table']);
    const at = (ms: number) => () => NOW + ms;

    expect(retryQuarantined(b, { now: at(5_000), maxDriftMs: 1000, dueOnly: true })).toMatchObject({ retried: 0, applied: 0 });
    const due = retryQuarantined(b, { now: at(25_000), maxDriftMs: 1000, dueOnly: true, limit: 1 });
    expect(due).toMatchObject({ retried: 1, applied: 1 });
    const next = retryQuarantined(b, { now: at(25_000), maxDriftMs: 1000, dueOnly: true, limit: 1, afterId: due.lastId });
    expect(next).toMatchObject({ retried: 1, applied: 1 });
    expect(b.$connection.prepare('SELECT id FROM todos ORDER BY id').values().flat()).toEqual(['s10', 's20']);
    expect(countQuarantined(b)).toBe(2);

    // A full pass up to the last id there was: what is held again (under new ids) is not taken twice.
    const upToId = Number(b.$connection.prepare('SELECT max(id) FROM ahenk_quarantine').value());
    const all = retryQuarantined(b, { now: at(25_000), maxDriftMs: 1000, upToId });
    expect(all).toMatchObject({ retried: 2, applied: 0 });
    expect(retryQuarantined(b, { now: at(25_000), maxDriftMs: 1000, afterId: 0, upToId })).toMatchObject({ retried: 0 });
    expect(countQuarantined(b)).toBe(2);
  });
});
