import { defineConfig } from 'drizzle-kit';

// Generates migrations/ for Ahenk's own system tables (`npm run db:generate`).
export default defineConfig({
  dialect: 'sqlite',
  schema: './src/schema/system.ts',
  out: './migrations',
});
