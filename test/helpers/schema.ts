import { blob, integer, real, text } from 'drizzle-orm/sqlite-core';
import { defineSyncedTable } from '../../src/index.ts';

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
  { resolvers: { high: 'max', tags: 'union' } },
);

export const schema = { todos, counters };

export const CREATE_TABLES = `
CREATE TABLE IF NOT EXISTS todos (id text PRIMARY KEY NOT NULL, title text DEFAULT '' NOT NULL, done integer DEFAULT 0 NOT NULL, score real, data blob);
CREATE TABLE IF NOT EXISTS counters (id text PRIMARY KEY NOT NULL, high integer, tags text, note text);
`;
