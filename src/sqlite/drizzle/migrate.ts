/**
 * drizzle-kit's migrations applied inside the caller's transaction. drizzle's own migrator issues
 * BEGIN and COMMIT itself, so what Ahenk does after the migrations (capture, held-back entries,
 * the identity) would commit apart from them: a full disk or read-only media between the two left a
 * migrated database without its triggers. Its ROLLBACK also fails when SQLite has already rolled
 * the transaction back itself (SQLITE_FULL may), and that error then hides the real one.
 *
 * The bookkeeping is drizzle's, step for step, so either migrator can take over from the other:
 * the same table (`id`, `hash`, `created_at`), and a migration is pending when its folder time is
 * later than the latest one recorded.
 */
import { readMigrationFiles, type MigrationMeta } from 'drizzle-orm/migrator';
import type { SqliteConnection } from '../connection.ts';
import { quoteIdent } from '../identifiers.ts';

/** drizzle's default table, which belongs to the app. */
export const DRIZZLE_MIGRATIONS_TABLE = '__drizzle_migrations';

/**
 * Applies the pending migrations of `source` (a drizzle-kit folder, or the migrations as data) in
 * one transaction, a savepoint of the caller's when one is open. Returns how many it applied.
 */
export function applyMigrations(connection: SqliteConnection, source: { migrationsFolder: string } | { migrations: readonly MigrationMeta[] }, migrationsTable = DRIZZLE_MIGRATIONS_TABLE): number {
  const migrations = 'migrations' in source ? source.migrations : readMigrationFiles({ migrationsFolder: source.migrationsFolder });
  const table = quoteIdent(migrationsTable);
  return connection.transaction(() => {
    connection.exec(`CREATE TABLE IF NOT EXISTS ${table} (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at numeric)`);
    const last = connection.prepare(`SELECT created_at FROM ${table} ORDER BY created_at DESC LIMIT 1`).value();
    const record = connection.prepare(`INSERT INTO ${table} ("hash", "created_at") VALUES (?, ?)`);
    let applied = 0;
    for (const migration of migrations) {
      if (last !== undefined && last !== null && !(Number(last) < migration.folderMillis)) continue;
      for (const statement of migration.sql) connection.prepare(statement).run();
      record.run(migration.hash, migration.folderMillis);
      applied++;
    }
    return applied;
  });
}
