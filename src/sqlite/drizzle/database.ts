/**
 * A Drizzle database over an SqliteConnection, and Drizzle's migrator for it. `$client` is the
 * driver's own connection object, `$connection` the port Ahenk runs on.
 */
import { createTableRelationsHelpers, extractTablesRelationalConfig, type ExtractTablesWithRelations, type RelationalSchemaConfig, type TablesRelationalConfig } from 'drizzle-orm';
import { readMigrationFiles, type MigrationMeta } from 'drizzle-orm/migrator';
import { BaseSQLiteDatabase, SQLiteSyncDialect } from 'drizzle-orm/sqlite-core';
import type { SqliteConnection } from '../connection.ts';
import type { DriverConnection, SqlRunResult } from '../port.ts';
import { PortSession } from './session.ts';

export type PortDatabase<TSchema extends Record<string, unknown> = Record<string, never>> = BaseSQLiteDatabase<
  'sync',
  SqlRunResult,
  TSchema,
  ExtractTablesWithRelations<TSchema>
> & {
  /** The driver's own connection (a better-sqlite3 Database or a node:sqlite DatabaseSync). */
  $client: DriverConnection;
  /** The storage port this database runs on. */
  $connection: SqliteConnection;
};

export function drizzleOverPort<TSchema extends Record<string, unknown> = Record<string, never>>(
  connection: SqliteConnection,
  options: { schema?: TSchema } = {},
): PortDatabase<TSchema> {
  const dialect = new SQLiteSyncDialect();
  let schema: RelationalSchemaConfig<TablesRelationalConfig> | undefined;
  if (options.schema) {
    const config = extractTablesRelationalConfig(options.schema, createTableRelationsHelpers);
    schema = { fullSchema: options.schema, schema: config.tables, tableNamesMap: config.tableNamesMap };
  }
  const session = new PortSession(connection, dialect, schema);
  const db = new BaseSQLiteDatabase('sync', dialect, session as never, schema as never) as PortDatabase<TSchema>;
  db.$client = connection.driver.client;
  db.$connection = connection;
  return db;
}

export type PortMigrationConfig = ({ migrationsFolder: string } | { migrations: readonly MigrationMeta[] }) & { migrationsTable?: string };

/**
 * drizzle-kit's migrations applied through the port (what drizzle's own migrators do): read from a
 * folder, or given as data (a browser has no folder to read; its bundler inlined them).
 */
export function migrateOverPort(db: PortDatabase<Record<string, unknown>>, config: PortMigrationConfig): void {
  const migrations = 'migrations' in config ? [...config.migrations] : readMigrationFiles(config);
  const internals = db as unknown as { dialect: SQLiteSyncDialect; session: PortSession<Record<string, unknown>, TablesRelationalConfig> };
  // The dialect reads only the table's name from its config.
  const table = config.migrationsTable === undefined ? {} : { migrationsTable: config.migrationsTable };
  internals.dialect.migrate(migrations, internals.session, { migrationsFolder: '', ...table });
}
