import { blob, integer, real, text } from 'drizzle-orm/sqlite-core';
import { compareSqlValues } from '../../src/sqlite/values.ts';
import { defineSyncedTable, type Resolver } from '../../src/index.ts';

/** A custom resolver as an app would write one: the larger value wins. */
export const largest: Resolver = {
  name: 'test-largest',
  resolve: (local, remote) => (compareSqlValues(remote, local) > 0 ? remote : local),
};

export const todos = defineSyncedTable('todos', {
  id: text('id').primaryKey(),
  title: text('title').notNull().default(''),
  done: integer('done').notNull().default(0),
  score: real('score'),
  data: blob('data'),
});

export const counters = defineSyncedTable(
  'counters',
  {
    id: text('id').primaryKey(),
    high: integer('high'),
    tags: text('tags'),
    note: text('note'),
  },
  undefined,
  { resolvers: { high: largest, tags: 'union' } },
);

export const schema = { todos, counters };

/** `todos` after a migration that added a nullable `extra` column. */
export const todosWithExtra = defineSyncedTable('todos', {
  id: text('id').primaryKey(),
  title: text('title').notNull().default(''),
  done: integer('done').notNull().default(0),
  score: real('score'),
  data: blob('data'),
  extra: text('extra'),
});

export const CREATE_TABLES = `
CREATE TABLE IF NOT EXISTS todos (id text PRIMARY KEY NOT NULL, title text DEFAULT '' NOT NULL, done integer DEFAULT 0 NOT NULL, score real, data blob);
CREATE TABLE IF NOT EXISTS counters (id text PRIMARY KEY NOT NULL, high integer, tags text, note text);
`;
