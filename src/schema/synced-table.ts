/**
 * `defineSyncedTable`: a plain Drizzle `sqliteTable` that also carries sync metadata. The table is
 * checked at definition time against what per-column LWW replication can honour, so a bad schema
 * fails where it is written, not on another device weeks later.
 */
import { getTableColumns, type BuildColumns } from 'drizzle-orm';
import {
  getTableConfig,
  sqliteTable,
  type SQLiteColumnBuilderBase,
  type SQLiteTable,
  type SQLiteTableExtraConfigValue,
  type SQLiteTableWithColumns,
} from 'drizzle-orm/sqlite-core';
import { SchemaError } from '../errors.ts';
import { setOwn } from '../sqlite/values.ts';
import { isResolverSpec, type ResolverSpec } from './resolvers.ts';

/** Oplog column masks are 62-bit integers (SQLite integers are signed 64-bit). */
export const MAX_SYNCED_COLUMNS = 62;
/** Names Ahenk keeps for its own tables and columns. */
export const RESERVED_PREFIX = 'ahenk_';

export interface SyncedTableOptions<TColumnName extends string = string> {
  /** Per-column merge rule; columns not named use last-write-wins (`'lww'`). */
  resolvers?: Partial<Record<TColumnName, ResolverSpec>>;
}

/** What Ahenk needs to know about a synced table; stored in the database as well (ahenk_tables). */
export interface SyncedTableMeta {
  name: string;
  pkColumn: string;
  /** Column names in table order, primary key excluded. */
  columns: string[];
  resolvers: Record<string, ResolverSpec>;
}

/**
 * One registry per JavaScript realm, not per copy of this module: a browser app loads its tables
 * from `ahenk/schema` while the worker bundle (`ahenk/browser/worker`) carries a copy of its own, and
 * a private WeakMap in each copy would leave the worker's copy blind to the app's tables (no capture).
 */
const REGISTRY = Symbol.for('ahenk.syncedTables');
const realm = globalThis as { [REGISTRY]?: WeakMap<SQLiteTable, SyncedTableMeta> };
const syncedTables = (realm[REGISTRY] ??= new WeakMap<SQLiteTable, SyncedTableMeta>());

export function defineSyncedTable<
  TName extends string,
  TColumns extends Record<string, SQLiteColumnBuilderBase>,
>(
  name: TName,
  columns: TColumns,
  extraConfig?: (self: BuildColumns<TName, TColumns, 'sqlite'>) => SQLiteTableExtraConfigValue[],
  options: SyncedTableOptions<Extract<keyof TColumns, string>> = {},
): SQLiteTableWithColumns<{
  name: TName;
  schema: undefined;
  columns: BuildColumns<TName, TColumns, 'sqlite'>;
  dialect: 'sqlite';
}> {
  const table = sqliteTable(name, columns, extraConfig);
  syncedTables.set(table, validateSyncedTable(table, options));
  return table;
}

export function isSyncedTable(value: unknown): value is SQLiteTable {
  return typeof value === 'object' && value !== null && syncedTables.has(value as SQLiteTable);
}

export function getSyncedTableMeta(table: SQLiteTable): SyncedTableMeta {
  const meta = syncedTables.get(table);
  if (!meta) throw new TypeError('not a table made by defineSyncedTable');
  return meta;
}

/** The synced tables among the values of a Drizzle schema module (other exports are ignored). */
export function syncedTablesOf(schema: Record<string, unknown>): SyncedTableMeta[] {
  return Object.values(schema).filter(isSyncedTable).map(getSyncedTableMeta);
}

function validateSyncedTable(table: SQLiteTable, options: SyncedTableOptions): SyncedTableMeta {
  const config = getTableConfig(table);
  const name = config.name;
  const fail = (column: string | undefined, why: string): never => {
    const where = column === undefined ? `table "${name}"` : `column "${name}"."${column}"`;
    throw new SchemaError(name, column, `defineSyncedTable: ${where} ${why}`);
  };

  if (name.toLowerCase().startsWith(RESERVED_PREFIX)) fail(undefined, `uses the reserved prefix "${RESERVED_PREFIX}"`);
  if (config.primaryKeys.length > 0) {
    const cols = config.primaryKeys.flatMap((pk) => pk.columns.map((c) => c.name)).join(', ');
    fail(undefined, `has a composite primary key (${cols}); only a single text primary key is supported`);
  }
  const pks = config.columns.filter((c) => c.primary);
  const pk = pks[0];
  if (!pk) return fail(undefined, 'has no primary key; a synced table needs a single text primary key');
  if (pk.getSQLType() !== 'text') {
    fail(pk.name, `is the primary key but has type ${pk.getSQLType()}; it must be text (ids must be unique across devices)`);
  }
  if (config.foreignKeys.length > 0) {
    const fk = config.foreignKeys[0]!.reference();
    fail(fk.columns[0]?.name, 'declares a foreign key; rows arrive from peers in any order, so foreign keys are not supported');
  }
  for (const unique of config.uniqueConstraints) {
    fail(unique.columns[0]?.name, 'has a unique constraint; two devices could each write a valid row that together break it');
  }
  for (const idx of config.indexes) {
    if (idx.config.unique) {
      const first = idx.config.columns[0];
      const column = first && 'name' in first ? String(first.name) : undefined;
      fail(column, `has a unique index "${idx.config.name}"; only the primary key may be unique`);
    }
  }

  const columns: string[] = [];
  for (const column of config.columns) {
    if (column.name.toLowerCase().startsWith(RESERVED_PREFIX)) fail(column.name, `uses the reserved prefix "${RESERVED_PREFIX}"`);
    if (column.primary) continue;
    if (column.isUnique) fail(column.name, 'is unique; only the primary key may be unique');
    if (column.notNull && column.default === undefined) {
      fail(column.name, 'is NOT NULL without a SQL default (.default(...)); a change from a peer can create the row before this column arrives');
    }
    columns.push(column.name);
  }
  if (columns.length > MAX_SYNCED_COLUMNS) fail(undefined, `has ${columns.length} columns; at most ${MAX_SYNCED_COLUMNS} can be synced`);

  const resolvers: Record<string, ResolverSpec> = {};
  const byKey = getTableColumns(table);
  for (const [key, spec] of Object.entries(options.resolvers ?? {})) {
    // A resolver names a column by its SQL name or by its key in the columns object (own keys only:
    // the table object inherits "constructor", "toString" and the like).
    const column = config.columns.find((c) => c.name === key) ?? (Object.hasOwn(byKey, key) ? byKey[key] : undefined);
    if (!column || !columns.includes(column.name)) fail(key, 'has a resolver but is not a non-key column of this table');
    if (!isResolverSpec(spec)) fail(key, 'has a resolver that is neither a built-in name nor a resolver object');
    setOwn(resolvers, column!.name, spec as ResolverSpec);
  }
  return { name, pkColumn: pk.name, columns, resolvers };
}
