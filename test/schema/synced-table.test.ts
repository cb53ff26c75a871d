import { sql } from 'drizzle-orm';
import { index, integer, primaryKey, text, unique, uniqueIndex } from 'drizzle-orm/sqlite-core';
import { getTableConfig, sqliteTable } from 'drizzle-orm/sqlite-core';
import { describe, expect, it } from 'vitest';
import { defineSyncedTable, getSyncedTableMeta, isSyncedTable, max, SchemaError } from '../../src/index.ts';

function schemaError(fn: () => unknown): SchemaError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SchemaError);
    return error as SchemaError;
  }
  throw new Error('expected a SchemaError');
}

describe('defineSyncedTable', () => {
  it('returns a real Drizzle table carrying sync metadata', () => {
    const notes = defineSyncedTable(
      'notes',
      { id: text('id').primaryKey(), body: text('body'), views: integer('views').notNull().default(0) },
      (t) => [index('notes_body').on(t.body)],
      { resolvers: { views: 'max' } },
    );
    expect(getTableConfig(notes).name).toBe('notes');
    expect(getTableConfig(notes).indexes).toHaveLength(1);
    expect(isSyncedTable(notes)).toBe(true);
    expect(isSyncedTable(sqliteTable('plain', { id: text('id').primaryKey() }))).toBe(false);
    expect(getSyncedTableMeta(notes)).toEqual({ name: 'notes', pkColumn: 'id', columns: ['body', 'views'], resolvers: { views: 'max' } });
  });

  it('accepts custom resolver objects keyed by property or column name', () => {
    const t = defineSyncedTable('scores', { id: text('id').primaryKey(), best: integer('best_score') }, undefined, { resolvers: { best: max } });
    expect(getSyncedTableMeta(t).resolvers).toEqual({ best_score: max });
  });

  const cases: [string, () => unknown, string | undefined, RegExp][] = [
    ['no primary key', () => defineSyncedTable('a1', { name: text('name') }), undefined, /"a1" has no primary key/],
    ['integer primary key', () => defineSyncedTable('a2', { id: integer('id').primaryKey() }), 'id', /"a2"."id" is the primary key but has type integer/],
    [
      'composite primary key',
      () => defineSyncedTable('a3', { a: text('a').notNull(), b: text('b').notNull() }, (t) => [primaryKey({ columns: [t.a, t.b] })]),
      undefined,
      /"a3" has a composite primary key \(a, b\)/,
    ],
    ['NOT NULL without default', () => defineSyncedTable('a4', { id: text('id').primaryKey(), title: text('title').notNull() }), 'title', /"a4"."title" is NOT NULL without a SQL default/],
    [
      'NOT NULL with only a JS default',
      () => defineSyncedTable('a5', { id: text('id').primaryKey(), title: text('title').notNull().$defaultFn(() => 'x') }),
      'title',
      /"a5"."title" is NOT NULL without a SQL default/,
    ],
    ['unique column', () => defineSyncedTable('a6', { id: text('id').primaryKey(), email: text('email').unique() }), 'email', /"a6"."email" is unique/],
    [
      'unique index',
      () => defineSyncedTable('a7', { id: text('id').primaryKey(), email: text('email') }, (t) => [uniqueIndex('a7_email').on(t.email)]),
      'email',
      /unique index "a7_email"/,
    ],
    [
      'unique constraint',
      () => defineSyncedTable('a8', { id: text('id').primaryKey(), x: text('x'), y: text('y') }, (t) => [unique('a8_xy').on(t.x, t.y)]),
      'x',
      /unique constraint/,
    ],
    [
      'foreign key',
      () => {
        const parent = sqliteTable('parent', { id: text('id').primaryKey() });
        return defineSyncedTable('a9', { id: text('id').primaryKey(), parentId: text('parent_id').references(() => parent.id) });
      },
      'parent_id',
      /"a9"."parent_id" declares a foreign key/,
    ],
    ['reserved table name', () => defineSyncedTable('ahenk_things', { id: text('id').primaryKey() }), undefined, /reserved prefix "ahenk_"/],
    ['reserved column name', () => defineSyncedTable('b1', { id: text('id').primaryKey(), x: text('ahenk_x') }), 'ahenk_x', /reserved prefix/],
    [
      'resolver on an unknown column',
      () => defineSyncedTable('b2', { id: text('id').primaryKey() }, undefined, { resolvers: { nope: 'max' } as never }),
      'nope',
      /has a resolver but is not a non-key column/,
    ],
    [
      'resolver that is not one',
      () => defineSyncedTable('b3', { id: text('id').primaryKey(), n: integer('n') }, undefined, { resolvers: { n: 'sum' as never } }),
      'n',
      /neither a built-in name nor a resolver object/,
    ],
  ];
  for (const [name, define, column, message] of cases) {
    it(`rejects a table with ${name}, naming table and column`, () => {
      const error = schemaError(define);
      expect(error.message).toMatch(message);
      expect(error.code).toBe('SCHEMA_INVALID');
      expect(error.column).toBe(column);
    });
  }

  it('rejects more columns than a capture mask holds', () => {
    const columns: Record<string, ReturnType<typeof text>> = { id: text('id').primaryKey() };
    for (let i = 0; i < 63; i++) columns[`c${i}`] = text(`c${i}`);
    expect(schemaError(() => defineSyncedTable('wide', columns)).message).toMatch(/has 63 columns; at most 62/);
  });

  it('keeps SQL defaults usable (the reason NOT NULL needs one)', () => {
    const t = defineSyncedTable('defaults', { id: text('id').primaryKey(), n: integer('n').notNull().default(sql`0`) });
    expect(getSyncedTableMeta(t).columns).toEqual(['n']);
  });
});
