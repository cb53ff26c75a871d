/**
 * Making a table that already exists in the database synced, without a TypeScript schema (what
 * `ahenk tables add` does): the table is checked against the rules defineSyncedTable applies to a
 * Drizzle table, read from SQLite's own description of it, then capture is installed and its rows
 * are logged so they sync too.
 */
import { SchemaError } from '../errors.ts';
import { quoteIdent, type SqliteConnection } from '../sqlite/index.ts';
import { MAX_SYNCED_COLUMNS, RESERVED_PREFIX, type SyncedTableMeta } from '../schema/synced-table.ts';
import { tableExists } from '../oplog/catalog.ts';
import { installCapture, type CaptureInstallReport } from './install.ts';

/** A user table of the database and whether it is synced. */
export interface TableListing {
  name: string;
  synced: boolean;
  rows: number;
  /** For a table not synced: why it cannot be, as `ahenk tables add` would say; undefined when it can. */
  refusal: string | undefined;
}

/** Every table of the database but SQLite's and Ahenk's own, in name order. */
export function listTables(raw: SqliteConnection): TableListing[] {
  const synced = new Set((raw.prepare('SELECT name FROM ahenk_tables').all() as { name: string }[]).map((r) => r.name));
  const names = (raw.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name`).all() as { name: string }[])
    .map((r) => r.name)
    .filter((name) => !name.toLowerCase().startsWith(RESERVED_PREFIX) && name !== '__drizzle_migrations' && name !== '__ahenk_migrations');
  return names.map((name) => {
    const rows = Number(raw.prepare(`SELECT count(*) FROM ${quoteIdent(name)}`).value());
    if (synced.has(name)) return { name, synced: true, rows, refusal: undefined };
    try {
      describeExistingTable(raw, name);
      return { name, synced: false, rows, refusal: undefined };
    } catch (error) {
      if (error instanceof SchemaError) return { name, synced: false, rows, refusal: error.message };
      throw error;
    }
  });
}

/** The table as capture needs it, or a SchemaError saying which rule it breaks. */
export function describeExistingTable(raw: SqliteConnection, name: string): SyncedTableMeta {
  const fail = (column: string | undefined, why: string): never => {
    const where = column === undefined ? `table "${name}"` : `column "${name}"."${column}"`;
    throw new SchemaError(name, column, `${where} ${why}`);
  };
  if (!tableExists(raw, name)) fail(undefined, 'does not exist in this database');
  if (name.toLowerCase().startsWith(RESERVED_PREFIX) || name.toLowerCase().startsWith('sqlite_')) fail(undefined, 'is an internal table');
  // Generated columns (hidden 2 or 3) are computed, never synced: left out here, as capture leaves them out.
  const info = raw.prepare('SELECT name, type, "notnull" AS nn, dflt_value AS dflt, pk FROM pragma_table_xinfo(?) WHERE hidden NOT IN (2, 3)').all(name) as {
    name: string;
    type: string;
    nn: bigint;
    dflt: string | null;
    pk: bigint;
  }[];
  const keys = info.filter((c) => c.pk > 0n);
  if (keys.length === 0) fail(undefined, 'has no primary key; a synced table needs a single text primary key');
  if (keys.length > 1) fail(undefined, `has a composite primary key (${keys.map((k) => k.name).join(', ')}); only a single text primary key is supported`);
  const pk = keys[0]!;
  // SQLite's affinity rule: a declared type containing CHAR, CLOB or TEXT is text.
  if (!/CHAR|CLOB|TEXT/i.test(pk.type)) fail(pk.name, `is the primary key but has type ${pk.type || 'none'}; it must be text (ids must be unique across devices)`);
  if (raw.prepare('SELECT 1 FROM pragma_foreign_key_list(?)').get(name) !== undefined) {
    fail(undefined, 'declares a foreign key; rows arrive from peers in any order, so foreign keys are not supported');
  }
  for (const index of raw.prepare(`SELECT name, "unique" AS isUnique, origin FROM pragma_index_list(?)`).all(name) as { name: string; isUnique: bigint; origin: string }[]) {
    if (index.isUnique === 1n && index.origin !== 'pk') fail(undefined, `has a unique index or constraint "${index.name}"; only the primary key may be unique`);
  }
  const columns: string[] = [];
  for (const column of info) {
    if (column.name.toLowerCase().startsWith(RESERVED_PREFIX)) fail(column.name, `uses the reserved prefix "${RESERVED_PREFIX}"`);
    if (column.pk > 0n) continue;
    if (column.nn === 1n && column.dflt === null) {
      fail(column.name, 'is NOT NULL without a default; a change from a peer can create the row before this column arrives');
    }
    columns.push(column.name);
  }
  if (columns.length > MAX_SYNCED_COLUMNS) fail(undefined, `has ${columns.length} columns; at most ${MAX_SYNCED_COLUMNS} can be synced`);
  const badKeys = raw.prepare(`SELECT count(*) FROM ${quoteIdent(name)} WHERE typeof(${quoteIdent(pk.name)}) != 'text'`).value() as bigint;
  if (badKeys > 0n) fail(pk.name, `holds ${badKeys} rows whose key is not text (NULL or a number); give them text keys first`);
  return { name, pkColumn: pk.name, columns, resolvers: {} };
}

/** Whether the table is registered as synced. */
export function isSyncedTable(raw: SqliteConnection, name: string): boolean {
  return raw.prepare('SELECT 1 FROM ahenk_tables WHERE name = ?').get(name) !== undefined;
}

/** Makes an existing table synced (last writer wins per column) and logs its rows; see above. */
export function syncExistingTable(raw: SqliteConnection, name: string): CaptureInstallReport {
  const meta = describeExistingTable(raw, name);
  return installCapture(raw, [meta]);
}
