/**
 * initializeDatabase: opens (or creates) a device database, applies Ahenk's system migrations,
 * creates this device's identity, runs the app's migrations if given, and installs capture for
 * every synced table of the schema. Opening again is an idempotent upgrade.
 */
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { installCapture, refreshCapture, type CaptureInstallReport } from '../capture/install.ts';
import { DatabaseError } from '../errors.ts';
import { retryQuarantined } from '../merge/merge.ts';
import { registerResolvers } from '../merge/registry.ts';
import type { Resolver } from '../merge/resolvers.ts';
import { syncedTablesOf } from '../schema/synced-table.ts';
import { SYSTEM_SYNCED_TABLES } from '../schema/system.ts';
import { clientOf, type DatabaseHandle } from './handle.ts';
import { ensureIdentity } from './identity.ts';

export const SYSTEM_MIGRATIONS_FOLDER = fileURLToPath(new URL('../../migrations', import.meta.url));
/** Kept apart from drizzle's default `__drizzle_migrations`, which belongs to the app. */
export const SYSTEM_MIGRATIONS_TABLE = '__ahenk_migrations';

export interface InitializeOptions<TSchema extends Record<string, unknown>> {
  /** The app's Drizzle schema module; its `defineSyncedTable` tables are captured. */
  schema?: TSchema;
  /** The app's drizzle-kit migrations folder, applied before capture is installed. */
  migrationsFolder?: string;
}

export type AhenkDatabase<TSchema extends Record<string, unknown> = Record<string, never>> = BetterSQLite3Database<TSchema> & {
  $client: Database.Database;
};

export function initializeDatabase<TSchema extends Record<string, unknown> = Record<string, never>>(
  path: string,
  options: InitializeOptions<TSchema> = {},
): AhenkDatabase<TSchema> {
  if (typeof path !== 'string' || path.length === 0) throw new TypeError('initializeDatabase: path must be a file path or ":memory:"');
  const raw = new Database(path);
  try {
    if (path !== ':memory:') raw.pragma('journal_mode = WAL');
    raw.pragma('busy_timeout = 5000');
    // Trigger-heavy statements keep a statement journal; in memory it costs about half as much.
    raw.pragma('temp_store = MEMORY');
    const db = (options.schema ? drizzle(raw, { schema: options.schema }) : drizzle(raw)) as AhenkDatabase<TSchema>;
    refuseNewerSchema(raw);
    migrate(db, { migrationsFolder: SYSTEM_MIGRATIONS_FOLDER, migrationsTable: SYSTEM_MIGRATIONS_TABLE });
    raw.transaction(() => {
      ensureIdentity(raw);
      raw.prepare('INSERT OR IGNORE INTO ahenk_clock (id, hlc) VALUES (0, 0)').run();
    }).immediate();
    migrateDatabase(db, options);
    return db;
  } catch (error) {
    raw.close();
    if (error instanceof Error && error.name.endsWith('Error') && 'code' in error) throw error;
    throw new DatabaseError(`initializeDatabase(${JSON.stringify(path)}): ${(error as Error).message}`, { cause: error });
  }
}

/** Ahenk's schema version: how many of its own migrations this database has applied. */
export function getSchemaVersion(db: DatabaseHandle): number {
  const raw = clientOf(db);
  const exists = raw.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(SYSTEM_MIGRATIONS_TABLE);
  if (!exists) return 0;
  return raw.prepare(`SELECT count(*) FROM ${SYSTEM_MIGRATIONS_TABLE}`).pluck().safeIntegers(false).get() as number;
}

/** The schema version this code brings (its migrations folder). */
export const KNOWN_SCHEMA_VERSION = readMigrationFiles({ migrationsFolder: SYSTEM_MIGRATIONS_FOLDER }).length;

/** drizzle's migrator silently skips a database that is ahead of it: say so instead. */
function refuseNewerSchema(raw: Database.Database): void {
  const version = getSchemaVersion(raw);
  if (version > KNOWN_SCHEMA_VERSION) {
    throw new DatabaseError(`this database has Ahenk schema version ${version}, newer than this Ahenk's ${KNOWN_SCHEMA_VERSION}; upgrade Ahenk`);
  }
}

export interface MigrateOptions {
  schema?: Record<string, unknown>;
  migrationsFolder?: string;
}

/**
 * Runs the app's drizzle-kit migrations, then re-checks capture for every synced table (a table
 * rebuild drops its triggers) and applies quarantined entries the new schema can now take.
 */
export function migrateDatabase(db: DatabaseHandle, options: MigrateOptions = {}): CaptureInstallReport {
  const raw = clientOf(db);
  if (options.migrationsFolder !== undefined) migrate(drizzle(raw), { migrationsFolder: options.migrationsFolder });
  const tables = options.schema ? syncedTablesOf(options.schema) : [];
  const customResolvers = tables.flatMap((t) => Object.values(t.resolvers)).filter((r): r is Resolver => typeof r === 'object');
  registerResolvers(raw, customResolvers);
  // The device list syncs like an app table, so pairings and revocations reach every device.
  const report = installCapture(raw, [...SYSTEM_SYNCED_TABLES, ...tables]);
  const rest = refreshCapture(raw);
  report.installed.push(...rest.installed);
  report.backfilled += rest.backfilled;
  retryQuarantined(raw);
  return report;
}
