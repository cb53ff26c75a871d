import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'sqlite',
  schema: './examples/todo/schema.ts',
  out: './examples/todo/migrations',
});
