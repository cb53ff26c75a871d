/**
 * Names that Object.prototype (or superjson's pollution guard) gives a meaning: `constructor`,
 * `toString`, `hasOwnProperty`, `__proto__`, `valueOf`, ... are legal SQLite names, so a table or
 * column may carry them. Every one must sync like any other name: through export, the wire codec,
 * merge (with and without resolvers and NOT NULL checks), quarantine and retry.
 */
import fc from 'fast-check';
import { eq } from 'drizzle-orm';
import { integer, text, type SQLiteColumnBuilderBase } from 'drizzle-orm/sqlite-core';
import { describe, expect, it } from 'vitest';
import {
  countQuarantined,
  defineSyncedTable,
  getOplogEntriesSince,
  initializeDatabase,
  merge,
  migrateDatabase,
  retryQuarantined,
  ResolverError,
  SchemaError,
  type OplogEntry,
} from '../../src/index.ts';
import { lookupResolver } from '../../src/schema/resolvers.ts';
import { validateEntry } from '../../src/oplog/entry.ts';
import { getSyncedTableMeta } from '../../src/schema/synced-table.ts';
import { openConnection } from '../../src/sqlite/index.ts';
import { decodeMessage, encodeBatchFrames } from '../../src/sync/protocol/index.ts';
import { caught, tempDir } from '../helpers/db.ts';
import { syncPair, type Device } from '../sync/helpers.ts';

/** Every own name of Object.prototype (what `obj[name]` or `name in obj` finds on any object), and superjson's refused names. */
export const PROTOTYPE_NAMES: readonly string[] = [...new Set([...Object.getOwnPropertyNames(Object.prototype), 'prototype', '__proto__'])].sort();

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** A synced table whose columns are all the prototype names (SQL names; the JS keys are c0, c1, ...). */
function oddTable(name: string, options: { notNull?: boolean; resolvers?: boolean } = {}) {
  const columns: Record<string, SQLiteColumnBuilderBase> = { id: text('id').primaryKey() };
  PROTOTYPE_NAMES.forEach((column, i) => (columns[`c${i}`] = text(column)));
  // A NOT NULL column and resolvers make merge check each value by its column name.
  if (options.notNull) columns.n = integer('hasOwnProperty_n').notNull().default(0);
  const resolvers = options.resolvers ? { [`c${PROTOTYPE_NAMES.indexOf('valueOf')}`]: 'max', [`c${PROTOTYPE_NAMES.indexOf('constructor')}`]: 'max', [`c${PROTOTYPE_NAMES.indexOf('__proto__')}`]: 'min' } : {};
  return defineSyncedTable(name, columns, undefined, { resolvers: resolvers as never });
}

const createSql = (name: string, notNull = false) =>
  `CREATE TABLE ${quote(name)} (id text PRIMARY KEY NOT NULL, ${PROTOTYPE_NAMES.map((c) => `${quote(c)} text`).join(', ')}${notNull ? ', "hasOwnProperty_n" integer DEFAULT 0 NOT NULL' : ''})`;

const schemaOf = () => ({ plain: oddTable('plain'), checked: oddTable('checked', { notNull: true, resolvers: true }), ctor: oddTable('constructor'), proto: oddTable('__proto__') });
const TABLES = ['plain', 'checked', 'constructor', '__proto__'];

function openOdd(name: string, dir: string, withTables = true): Device {
  const path = `${dir}/${name}.db`;
  if (withTables) {
    const pre = openConnection(path);
    pre.exec([createSql('plain'), createSql('checked', true), createSql('constructor'), createSql('__proto__')].join(';'));
    pre.close();
  }
  return initializeDatabase(path, withTables ? { schema: schemaOf() } : {}) as unknown as Device;
}

/** Writes a row to every table, one value per prototype name, through plain SQL (the app's own connection). */
function writeAll(db: Device, pk: string, tag: string): void {
  for (const table of TABLES) {
    const names = PROTOTYPE_NAMES.map(quote).join(', ');
    db.$connection.prepare(`INSERT INTO ${quote(table)} (id, ${names}) VALUES (?, ${PROTOTYPE_NAMES.map(() => '?').join(', ')})`).run(pk, ...PROTOTYPE_NAMES.map((c) => `${tag}:${c}`));
  }
}

/**
 * Every row of every table with storage classes, as arrays by column position (a row object would
 * lose a column named "__proto__"), ordered by key.
 */
function rows(db: Device): unknown[][][] {
  return TABLES.map((t) => {
    const columns = (db.$connection.prepare('SELECT name FROM pragma_table_info(?) ORDER BY cid').values(t) as string[][]).map(([c]) => quote(c!));
    return db.$connection.prepare(`SELECT ${columns.map((c) => `${c}, typeof(${c})`).join(', ')} FROM ${quote(t)} ORDER BY 1`).values();
  });
}

describe('names Object.prototype knows', () => {
  it('are accepted by defineSyncedTable, a systematic list', () => {
    expect(PROTOTYPE_NAMES).toEqual(expect.arrayContaining(['constructor', 'toString', 'hasOwnProperty', '__proto__', 'valueOf', 'isPrototypeOf', 'prototype']));
    expect(() => schemaOf()).not.toThrow();
  });

  it('are no resolvers and no columns of their own', () => {
    for (const name of PROTOTYPE_NAMES) {
      expect(caught(() => lookupResolver(name, new Map())), name).toBeInstanceOf(ResolverError);
      // A resolver for a column the table does not have is refused, even one the table object inherits.
      const t = () => defineSyncedTable('t', { id: text('id').primaryKey(), x: text('x') }, undefined, { resolvers: Object.fromEntries([[name, 'max']]) as never });
      expect(caught(t), name).toBeInstanceOf(SchemaError);
    }
    // A resolver on a prototype-named column is the column's own property of the table's metadata.
    const meta = getSyncedTableMeta(oddTable('m', { resolvers: true }));
    expect(Object.getPrototypeOf(meta.resolvers)).toBe(Object.prototype);
    expect(Object.entries(meta.resolvers).sort()).toEqual([['__proto__', 'min'], ['constructor', 'max'], ['valueOf', 'max']]);
  });

  it('export carries every prototype-named column as its own property', () => {
    const dir = tempDir();
    const a = openOdd('a', dir);
    writeAll(a, 'r1', 'a');
    const { entries } = getOplogEntriesSince(a);
    for (const table of TABLES) {
      const entry = entries.find((e) => e.table === table)!;
      expect(entry, table).toBeDefined();
      const values = entry.groups[0]!.values;
      expect(Object.getPrototypeOf(values)).toBe(Object.prototype);
      expect(Object.keys(values).sort()).toEqual([...PROTOTYPE_NAMES, ...(table === 'checked' ? ['hasOwnProperty_n'] : [])].sort());
      for (const c of PROTOTYPE_NAMES) expect(Object.hasOwn(values, c) && values[c], `${table}.${c}`).toBe(`a:${c}`);
    }
    a.$connection.close();
  });

  it('round-trip through the wire codec with every name as its own property', () => {
    const values: Record<string, string> = {};
    for (const c of PROTOTYPE_NAMES) Object.defineProperty(values, c, { value: `v:${c}`, enumerable: true, writable: true, configurable: true });
    const entry: OplogEntry = { table: 'constructor', pk: 'k', cl: 1, groups: [{ hlc: '0000000000010000', device: 'dev', values }] };
    // A frame budget that splits the entry, and one that does not.
    for (const maxFrameBytes of [undefined, 700]) {
      const frames = encodeBatchFrames([entry], { firstBatch: 1, cursor: '1', remaining: 0, sender: 'dev' }, maxFrameBytes === undefined ? {} : { maxFrameBytes });
      const decoded = frames.map((f) => decodeMessage(f.frame, { sender: 'dev' }));
      const back = decoded.flatMap((m) => (m.type === 'batch' ? m.entries : [])).flatMap((e) => e.groups.map((g) => g.values));
      if (maxFrameBytes !== undefined) expect(back.length).toBeGreaterThan(1);
      const got = new Map(back.flatMap((v) => Object.keys(v).map((c) => [c, Object.hasOwn(v, c) ? v[c] : 'missing'] as const)));
      expect(got.size).toBe(PROTOTYPE_NAMES.length);
      for (const c of PROTOTYPE_NAMES) expect(got.get(c), c).toBe(`v:${c}`);
    }
  });

  it('any mix of them and other names survives validation, JSON and the codec as own properties (property)', () => {
    const name = fc.oneof(fc.constantFrom(...PROTOTYPE_NAMES), fc.string({ minLength: 1, maxLength: 12 }));
    const cells = fc.uniqueArray(fc.tuple(name, fc.oneof(fc.string(), fc.constant(null), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }))), { minLength: 1, maxLength: 20, selector: ([n]) => n });
    fc.assert(
      fc.property(cells, (pairs) => {
        const values = Object.fromEntries(pairs);
        const entry: OplogEntry = { table: pairs[0]![0], pk: 'k', cl: 1, groups: [{ hlc: '0000000000010000', device: 'dev', values }] };
        const [frame] = encodeBatchFrames([entry], { firstBatch: 1, cursor: '1', remaining: 0, sender: 'dev' });
        const decoded = decodeMessage(frame!.frame, { sender: 'dev' });
        const fromJson = JSON.parse(JSON.stringify({ ...entry, groups: [{ ...entry.groups[0]!, values: Object.fromEntries(pairs.map(([n, v]) => [n, typeof v === 'bigint' ? 0 : v])) }] })) as unknown;
        for (const candidate of [entry, decoded.type === 'batch' ? decoded.entries[0] : undefined]) {
          const checked = validateEntry(candidate, 0).groups[0]!.values;
          expect(Object.keys(checked).sort()).toEqual(pairs.map(([n]) => n).sort());
          for (const [n, v] of pairs) expect(Object.hasOwn(checked, n) && checked[n]).toBe(v);
        }
        expect(Object.keys(validateEntry(fromJson, 0).groups[0]!.values).sort()).toEqual(pairs.map(([n]) => n).sort());
      }),
      { seed: 12, numRuns: 300 },
    );
  });

  it('merge applies them, with resolvers and NOT NULL checks, and a re-merge changes nothing', () => {
    const dir = tempDir();
    const a = openOdd('a', dir);
    const b = openOdd('b', dir);
    writeAll(a, 'r1', 'a');
    const { entries } = getOplogEntriesSince(a);
    const result = merge(b, entries);
    expect(result.quarantined).toEqual([]);
    expect(result.applied).toBe(entries.length);
    expect(rows(b)).toEqual(rows(a));
    expect(merge(b, entries)).toMatchObject({ applied: 0, unchanged: entries.length });
    // A concurrent write from b on the resolver columns: max/min join, then both agree.
    b.$connection.prepare(`UPDATE "checked" SET "valueOf" = 'zzz', "constructor" = '', "__proto__" = '' WHERE id = 'r1'`).run();
    a.$connection.prepare(`UPDATE "checked" SET "valueOf" = 'b', "constructor" = 'b', "__proto__" = 'b' WHERE id = 'r1'`).run();
    merge(a, getOplogEntriesSince(b).entries);
    merge(b, getOplogEntriesSince(a).entries);
    expect(rows(b)).toEqual(rows(a));
    expect(a.$connection.prepare(`SELECT "valueOf", "constructor", "__proto__" FROM "checked"`).getValues()).toEqual(['zzz', 'b', '']);
    a.$connection.close();
    b.$connection.close();
  });

  it('two devices converge over the real session: insert, update, delete', async () => {
    const dir = tempDir();
    const a = openOdd('a', dir);
    const b = openOdd('b', dir);
    try {
      writeAll(a, 'r1', 'a');
      writeAll(b, 'r2', 'b');
      await syncPair(a, b);
      expect(rows(a)).toEqual(rows(b));
      expect(rows(a).every((t) => t.length === 2)).toBe(true);
      for (const [i, table] of TABLES.entries()) {
        const column = PROTOTYPE_NAMES[i * 3 % PROTOTYPE_NAMES.length]!;
        // 'a-edited' sorts below 'b:__proto__': the min resolver of checked."__proto__" keeps it too.
        a.$connection.prepare(`UPDATE ${quote(table)} SET "__proto__" = 'a-edited', ${quote(column)} = 'edited too' WHERE id = 'r2'`).run();
        b.$connection.prepare(`DELETE FROM ${quote(table)} WHERE id = 'r1'`).run();
      }
      await syncPair(a, b);
      expect(rows(a)).toEqual(rows(b));
      expect(rows(a).every((t) => t.length === 1)).toBe(true);
      for (const table of TABLES) expect(b.$connection.prepare(`SELECT "__proto__" FROM ${quote(table)} WHERE id = 'r2'`).value()).toBe('a-edited');
      expect(b.$connection.prepare(`SELECT "constructor" FROM "constructor" WHERE id = 'r2'`).value()).toBe('b:constructor');
    } finally {
      a.$connection.close();
      b.$connection.close();
    }
  });

  it('quarantine keeps them for a device that lacks the tables or columns yet, and the migration applies them', async () => {
    const dir = tempDir();
    const a = openOdd('a', dir);
    // b has two of the tables with their key alone (every column unknown) and not the other two.
    const path = `${dir}/b.db`;
    const pre = openConnection(path);
    pre.exec('CREATE TABLE "plain" (id text PRIMARY KEY NOT NULL); CREATE TABLE "constructor" (id text PRIMARY KEY NOT NULL)');
    pre.close();
    const keyOnly = (name: string) => defineSyncedTable(name, { id: text('id').primaryKey() });
    const b = initializeDatabase(path, { schema: { plain: keyOnly('plain'), ctor: keyOnly('constructor') } }) as unknown as Device;
    try {
      writeAll(a, 'r1', 'a');
      await syncPair(a, b);
      expect(countQuarantined(b)).toBe(TABLES.length);
      expect(b.$connection.prepare('SELECT count(*) FROM "constructor"').value()).toBe(1n);
      // A retry before the migration keeps everything held back, unchanged.
      expect(retryQuarantined(b)).toMatchObject({ applied: 0 });
      expect(countQuarantined(b)).toBe(TABLES.length);
      // The migration that adds the tables and columns applies what waited.
      for (const table of ['plain', 'constructor']) for (const c of PROTOTYPE_NAMES) b.$connection.exec(`ALTER TABLE ${quote(table)} ADD COLUMN ${quote(c)} text`);
      b.$connection.exec([createSql('checked', true), createSql('__proto__')].join(';'));
      migrateDatabase(b, { schema: schemaOf() });
      expect(countQuarantined(b)).toBe(0);
      expect(rows(b)).toEqual(rows(a));
    } finally {
      a.$connection.close();
      b.$connection.close();
    }
  });

  it('drizzle reads and writes them through the synced table', () => {
    const dir = tempDir();
    const a = openOdd('a', dir);
    const t = schemaOf().plain;
    const ctor = `c${PROTOTYPE_NAMES.indexOf('constructor')}`;
    a.insert(t).values({ id: 'd1', [ctor]: 'via drizzle' } as never).run();
    const got = a.select().from(t).where(eq(t.id!, 'd1')).get() as Record<string, unknown>;
    expect(got[ctor]).toBe('via drizzle');
    a.$connection.close();
  });
});
