// The todo app's schema: one synced table, declared as in any Drizzle app. Its migrations in
// ../drizzle come from `npx drizzle-kit generate --config examples/web/drizzle.config.ts`.
import { integer, text } from 'drizzle-orm/sqlite-core';
import { defineSyncedTable } from 'ahenk/schema';

export const todos = defineSyncedTable('todos', {
  id: text('id').primaryKey(),
  title: text('title').notNull().default(''),
  done: integer('done', { mode: 'boolean' }).notNull().default(false),
  createdAt: integer('created_at').notNull().default(0),
});

export const schema = { todos };
