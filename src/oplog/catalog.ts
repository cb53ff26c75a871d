/**
 * Capture metadata as the database holds it (ahenk_tables), so any process can export and merge
 * a file whose TypeScript schema it never saw. Cached per connection until the schema changes.
 */
import { ConnectionSlot, type SqliteConnection } from '../sqlite/index.ts';
import { DatabaseError } from '../errors.ts';
import { triggerNames } from './format.ts';

/** A synced table as capture sees it: where its columns' bits are. */
export interface CaptureTarget {
  /** ahenk_tables.id */
  id: number;
  name: string;
  pkColumn: string;
  /** Column names in bit order (bit i is 1 << i); may include columns the table no longer has. */
  columns: readonly string[];
  /** Columns the table has now (a subset of `columns`). */
  liveColumns: readonly string[];
}

export interface CapturedTable extends CaptureTarget {
  /** column name -> resolver name ('lww' when absent). A Map: column names come from data. */
  resolvers: ReadonlyMap<string, string>;
  /** Columns declared NOT NULL: a NULL for them from a peer is a bad entry, not a default. */
  notNull: ReadonlySet<string>;
}

export interface CaptureCatalog {
  byName: ReadonlyMap<string, CapturedTable>;
  byId: ReadonlyMap<number, CapturedTable>;
  /**
   * Another connection changed a synced table (added a column, rebuilt it) and capture has not been
   * re-installed yet: callers that write run refreshCapture first.
   */
  stale: boolean;
}

interface CatalogCache {
  current?: { schemaVersion: number; dataVersion: number; catalog: CaptureCatalog };
}
const catalogSlot = new ConnectionSlot<CatalogCache>('capture catalog');

export function loadCatalog(raw: SqliteConnection): CaptureCatalog {
  const schemaVersion = Number(raw.pragma('schema_version'));
  const dataVersion = Number(raw.pragma('data_version'));
  const cache = raw.slot(catalogSlot, (): CatalogCache => ({}));
  const cached = cache.current;
  if (cached && cached.schemaVersion === schemaVersion && cached.dataVersion === dataVersion) return cached.catalog;

  const rows = raw
    .prepare('SELECT id, name, pk_column AS pkColumn, columns, resolvers FROM ahenk_tables ORDER BY id', { integers: 'number' })
    .all() as { id: number; name: string; pkColumn: string; columns: string; resolvers: string }[];
  const byName = new Map<string, CapturedTable>();
  const byId = new Map<number, CapturedTable>();
  const triggers = new Set(raw.prepare(`SELECT name FROM sqlite_master WHERE type = 'trigger'`).values().map(([name]) => name as string));
  let stale = false;
  for (const row of rows) {
    const columns = parseJson<string[]>(row.columns, `ahenk_tables.columns of ${row.name}`);
    const live = liveColumnsOf(raw, row.name).filter((c) => c !== row.pkColumn);
    if (live.some((c) => !columns.includes(c)) || !Object.values(triggerNames(row.name)).every((t) => triggers.has(t))) stale = true;
    const table: CapturedTable = {
      id: row.id,
      name: row.name,
      pkColumn: row.pkColumn,
      columns,
      // A column without a capture bit yet is treated as unknown until capture is refreshed.
      liveColumns: live.filter((c) => columns.includes(c)),
      resolvers: resolversOf(row.resolvers, row.name),
      notNull: new Set(raw.prepare('SELECT name FROM pragma_table_info(?) WHERE "notnull"').values(row.name).map(([name]) => name as string)),
    };
    byName.set(table.name, table);
    byId.set(table.id, table);
  }
  const catalog = { byName, byId, stale };
  cache.current = { schemaVersion, dataVersion, catalog };
  return catalog;
}

export function invalidateCatalog(raw: SqliteConnection): void {
  raw.clearSlot(catalogSlot);
}

/** Column names the table has now, or [] if it does not exist. */
export function liveColumnsOf(raw: SqliteConnection, table: string): string[] {
  const info = raw.prepare(`SELECT name FROM pragma_table_info(?)`).all(table) as { name: string }[];
  return info.map((c) => c.name);
}

export function tableExists(raw: SqliteConnection, table: string): boolean {
  return raw.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(table) !== undefined;
}

export function primaryKeyOf(raw: SqliteConnection, table: string): string[] {
  const info = raw.prepare(`SELECT name, pk FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk`).all(table) as { name: string }[];
  return info.map((c) => c.name);
}

/** ahenk_tables.resolvers (a JSON object, column -> resolver name) as a Map of its own string entries. */
export function resolversOf(json: string, table: string): Map<string, string> {
  const value = parseJson<unknown>(json, `ahenk_tables.resolvers of ${table}`);
  const resolvers = new Map<string, string>();
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return resolvers;
  for (const [column, name] of Object.entries(value)) if (typeof name === 'string') resolvers.set(column, name);
  return resolvers;
}

function parseJson<T>(text: string, what: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (cause) {
    throw new DatabaseError(`${what} is not valid JSON`, { cause });
  }
}

