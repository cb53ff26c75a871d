import { defineConfig } from 'drizzle-kit';

// The web example's migrations (run from the repository's root).
export default defineConfig({
  dialect: 'sqlite',
  schema: './examples/web/src/schema.ts',
  out: './examples/web/drizzle',
});
