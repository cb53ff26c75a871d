/**
 * Ahenk's own migrations (the system tables), read from the package's migrations/ folder. The
 * browser build replaces this module with one that carries the same migrations inline
 * (scripts/build-browser.mjs), since a browser has no folder to read.
 */
import { fileURLToPath } from 'node:url';
import { readMigrationFiles, type MigrationMeta } from 'drizzle-orm/migrator';

export const SYSTEM_MIGRATIONS_FOLDER = fileURLToPath(new URL('../../migrations', import.meta.url));

let read: readonly MigrationMeta[] | undefined;

export function systemMigrations(): readonly MigrationMeta[] {
  read ??= readMigrationFiles({ migrationsFolder: SYSTEM_MIGRATIONS_FOLDER });
  return read;
}
