/**
 * initializeDatabase: opens (or creates) a device database, applies Ahenk's system migrations,
 * creates this device's identity, runs the app's migrations if given, and installs capture for
 * every synced table of the schema. Opening again is an idempotent upgrade.
 */
import type { MigrationMeta } from 'drizzle-orm/migrator';
import { installCapture, refreshCapture, type CaptureInstallReport } from '../capture/install.ts';
import { DatabaseError } from '../errors.ts';
import { retryQuarantined } from '../merge/merge.ts';
import { registerResolvers } from '../merge/registry.ts';
import type { Resolver } from '../schema/resolvers.ts';
import { syncedTablesOf } from '../schema/synced-table.ts';
import { SYSTEM_SYNCED_TABLES } from '../schema/system.ts';
import {
  applyMigrations,
  connectionOf,
  drizzleOverPort,
  openConnection,
  type AdapterName,
  type DatabaseHandle,
  type PortDatabase,
  type SqliteConnection,
  type SqliteTarget,
} from '../sqlite/index.ts';

import { ensureIdentity } from './identity.ts';
import { SYSTEM_MIGRATIONS_FOLDER, systemMigrations } from './system-migrations.ts';
import { checkMigrationsFolder, createExclusively, removeDatabaseFiles } from './files.ts';

export { SYSTEM_MIGRATIONS_FOLDER };
/** Kept apart from drizzle's default `__drizzle_migrations`, which belongs to the app. */
export const SYSTEM_MIGRATIONS_TABLE = '__ahenk_migrations';

export interface InitializeOptions<TSchema extends Record<string, unknown>> {
  /** The app's Drizzle schema module; its `defineSyncedTable` tables are captured. */
  schema?: TSchema;
  /** The app's drizzle-kit migrations folder, applied before capture is installed. */
  migrationsFolder?: string;
  /** The app's migrations as data, where there is no folder to read (a browser bundle); instead of `migrationsFolder`. */
  migrations?: readonly MigrationMeta[];
  /**
   * The SQLite adapter that opens a path: 'better-sqlite3' or 'node:sqlite' (Node 22.16+).
   * Ignored for an opened connection, whose driver decides.
   * @default process.env.AHENK_SQLITE, else 'better-sqlite3'
   */
  adapter?: AdapterName;
}

/** The Drizzle database Ahenk runs on: `$connection` is the storage port, `$client` the driver's handle. */
export type AhenkDatabase<TSchema extends Record<string, unknown> = Record<string, never>> = PortDatabase<TSchema>;

/**
 * `target` is a file path (or ':memory:'), opened with `options.adapter`, or a connection the app
 * opened itself: a better-sqlite3 Database or a node:sqlite DatabaseSync.
 */
export function initializeDatabase<TSchema extends Record<string, unknown> = Record<string, never>>(
  target: SqliteTarget,
  options: InitializeOptions<TSchema> = {},
): AhenkDatabase<TSchema> {
  if ((typeof target !== 'string' && (typeof target !== 'object' || target === null)) || target === '') {
    throw new TypeError('initializeDatabase: expected a file path, ":memory:" or an opened SQLite connection');
  }
  // Checked before the file is opened: a typo in the folder must not leave a half-made database.
  if (options.migrationsFolder !== undefined) checkMigrationsFolder(options.migrationsFolder);
  const createdHere = typeof target === 'string' && isFilePath(target) && createExclusively(target);
  const removeCreated = (): void => {
    // A file this call created and could not finish is removed, so a retry starts from nothing.
    if (createdHere) removeDatabaseFiles(target);
  };
  let raw;
  try {
    raw = openConnection(target, options.adapter === undefined ? {} : { adapter: options.adapter });
  } catch (error) {
    removeCreated();
    throw error;
  }
  try {
    // First, so that switching to WAL waits for another connection's lock like everything after it.
    raw.exec('PRAGMA busy_timeout = 5000');
    if (raw.path !== ':memory:' && raw.path !== '') raw.exec('PRAGMA journal_mode = WAL');
    // Trigger-heavy statements keep a statement journal; in memory it costs about half as much.
    raw.exec('PRAGMA temp_store = MEMORY');
    // The drivers build SQLite with different defaults (better-sqlite3: a 16 MB page cache and
    // synchronous = NORMAL under WAL; node:sqlite: 2 MB and FULL): a file Ahenk opens gets the same
    // on both. A connection the app opened keeps the app's choice.
    if (typeof target === 'string') raw.exec('PRAGMA cache_size = -16000; PRAGMA synchronous = NORMAL');
    const db = drizzleOverPort(raw, options.schema ? { schema: options.schema } : {}) as AhenkDatabase<TSchema>;
    refuseNewerSchema(raw);
    // One transaction from the system tables to the last capture trigger: a full disk or read-only
    // media anywhere leaves the file as it was, and the next open does it all again.
    raw.withStorageErrors('initializing the database', () =>
      raw.transaction(() => {
        applyMigrations(raw, { migrations: systemMigrations() }, SYSTEM_MIGRATIONS_TABLE);
        ensureIdentity(raw);
        raw.prepare('INSERT OR IGNORE INTO ahenk_clock (id, hlc) VALUES (0, 0)').run();
        migrateDatabase(db, options);
      }),
    );
    return db;
  } catch (error) {
    // A connection the app opened stays the app's: it may migrate and try again.
    if (typeof target === 'string') raw.close();
    removeCreated();
    // The pragmas above write too (WAL mode on a new file).
    const storage = raw.storageError(error, 'initializing the database');
    if (storage !== undefined) throw storage;
    if (error instanceof Error && error.name.endsWith('Error') && 'code' in error) throw error;
    const name = typeof target === 'string' ? JSON.stringify(target) : raw.adapter;
    throw new DatabaseError(`initializeDatabase(${name}): ${(error as Error).message}`, { cause: error });
  }
}

/** Ahenk's schema version: how many of its own migrations this database has applied. */
export function getSchemaVersion(db: DatabaseHandle): number {
  const raw = connectionOf(db);
  const exists = raw.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(SYSTEM_MIGRATIONS_TABLE);
  if (!exists) return 0;
  return Number(raw.prepare(`SELECT count(*) FROM ${SYSTEM_MIGRATIONS_TABLE}`).value());
}

/** The schema version this code brings (its migrations folder). */
export const KNOWN_SCHEMA_VERSION = systemMigrations().length;

/** drizzle's migrator silently skips a database that is ahead of it: say so instead. */
function refuseNewerSchema(raw: SqliteConnection): void {
  const version = getSchemaVersion(raw);
  if (version > KNOWN_SCHEMA_VERSION) {
    throw new DatabaseError(`this database has Ahenk schema version ${version}, newer than this Ahenk's ${KNOWN_SCHEMA_VERSION}; upgrade Ahenk`);
  }
}

export interface MigrateOptions {
  schema?: Record<string, unknown>;
  migrationsFolder?: string;
  /** The app's migrations as data (a browser bundle); instead of `migrationsFolder`. */
  migrations?: readonly MigrationMeta[];
}

/**
 * Runs the app's drizzle-kit migrations, then re-checks capture for every synced table (a table
 * rebuild drops its triggers) and applies quarantined entries the new schema can now take, all in
 * one transaction: a failure anywhere (a full disk, read-only media: a StorageError) leaves the
 * database as it was, and a second call does it all again.
 */
export function migrateDatabase(db: DatabaseHandle, options: MigrateOptions = {}): CaptureInstallReport {
  const raw = connectionOf(db);
  if (options.migrationsFolder !== undefined && options.migrations !== undefined) throw new TypeError('migrateDatabase: give migrationsFolder or migrations, not both');
  if (options.migrationsFolder !== undefined) checkMigrationsFolder(options.migrationsFolder);
  return raw.withStorageErrors('migrating the database', () => raw.transaction(() => migrateIn(raw, options)));
}

function migrateIn(raw: SqliteConnection, options: MigrateOptions): CaptureInstallReport {
  if (options.migrationsFolder !== undefined) applyMigrations(raw, { migrationsFolder: options.migrationsFolder });
  if (options.migrations !== undefined) applyMigrations(raw, { migrations: options.migrations });
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

/** A path SQLite creates a file for (not ':memory:', not a URI, which SQLite may read differently). */
function isFilePath(target: string): boolean {
  return target !== ':memory:' && !target.startsWith('file:');
}
