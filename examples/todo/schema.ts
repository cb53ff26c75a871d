// The example todo app's schema: one synced table, declared as in any Drizzle app.
// Its migrations in ./migrations come from `npx drizzle-kit generate --config examples/todo/drizzle.config.ts`.
import { integer, text } from 'drizzle-orm/sqlite-core';
import { defineSyncedTable } from '../../src/schema/index.ts';

export const todos = defineSyncedTable('todos', {
  id: text('id').primaryKey(),
  title: text('title').notNull().default(''),
  done: integer('done', { mode: 'boolean' }).notNull().default(false),
});

export const schema = { todos };
