/**
 * Opening a connection: a path with the chosen adapter, or a connection the app opened itself with
 * any driver. The adapter for a path is better-sqlite3 unless the caller (or AHENK_SQLITE) says
 * node:sqlite or sqlite-wasm (loaded first with loadSqliteWasm); an unknown name is an error,
 * never a silent fallback.
 */
import { betterSqlite3Driver, isBetterSqlite3Client, openBetterSqlite3 } from './better-sqlite3/index.ts';
import { SqliteConnection } from './connection.ts';
import { isNodeSqliteClient, nodeSqliteDriver, openNodeSqlite } from './node-sqlite/index.ts';
import type { AdapterName, DriverConnection } from './port.ts';
import { isSqliteWasmClient, openSqliteWasm, sqliteWasmDriver } from './sqlite-wasm/index.ts';

export const ADAPTERS: readonly AdapterName[] = ['better-sqlite3', 'node:sqlite', 'sqlite-wasm'];

/** The adapter used for a path when none is named: AHENK_SQLITE, else better-sqlite3. */
export function defaultAdapter(): AdapterName {
  const named = globalThis.process?.env.AHENK_SQLITE;
  if (named === undefined || named === '') return 'better-sqlite3';
  return checkAdapter(named, 'AHENK_SQLITE');
}

export function checkAdapter(name: unknown, where = 'adapter'): AdapterName {
  const found = ADAPTERS.find((a) => a === name);
  if (found === undefined) throw new TypeError(`${where}: unknown SQLite adapter ${JSON.stringify(name)} (expected ${ADAPTERS.slice(0, -1).join(', ')} or ${ADAPTERS.at(-1)})`);
  return found;
}

/** Whether an error came from SQLite through either adapter (when no connection is at hand to ask). */
export function isSqliteError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  return error.name === 'SqliteError' || error.name === 'SQLite3Error' || code === 'ERR_SQLITE_ERROR' || (typeof code === 'string' && code.startsWith('SQLITE_'));
}

/** Whether SQLite read the file as no database at all (SQLITE_NOTADB, 26), through either adapter. */
export function isNotADatabaseError(error: unknown): boolean {
  if (!isSqliteError(error)) return false;
  const { code, errcode } = error as { code?: unknown; errcode?: unknown };
  return code === 'SQLITE_NOTADB' || (typeof errcode === 'number' && (errcode & 0xff) === 26);
}

/**
 * What can be opened: a file path or ':memory:', a connection the app opened with better-sqlite3,
 * node:sqlite or sqlite-wasm, or a port connection.
 */
export type SqliteTarget = string | SqliteConnection | DriverConnection;

export interface OpenOptions {
  /** For a path: which adapter opens it. @default defaultAdapter() */
  adapter?: AdapterName;
  /** For a path: open read-only (the file must exist). @default false */
  readOnly?: boolean;
  /** For a path: how long a statement waits for another connection's lock before SQLITE_BUSY, opening included. @default 5000 */
  busyTimeoutMs?: number;
}

export function openConnection(target: SqliteTarget, options: OpenOptions = {}): SqliteConnection {
  if (target instanceof SqliteConnection) return target;
  if (typeof target === 'string') {
    if (target.length === 0) throw new TypeError('expected a file path or ":memory:"');
    const adapter = options.adapter === undefined ? defaultAdapter() : checkAdapter(options.adapter);
    const flags = { readOnly: options.readOnly === true, ...(options.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: options.busyTimeoutMs }) };
    if (adapter === 'sqlite-wasm') return new SqliteConnection(openSqliteWasm(target, flags));
    return new SqliteConnection(adapter === 'node:sqlite' ? openNodeSqlite(target, flags) : openBetterSqlite3(target, flags));
  }
  if (isSqliteWasmClient(target)) return new SqliteConnection(sqliteWasmDriver(target));
  if (isBetterSqlite3Client(target)) return new SqliteConnection(betterSqlite3Driver(target));
  if (isNodeSqliteClient(target)) return new SqliteConnection(nodeSqliteDriver(target));
  throw new TypeError('expected a file path, a better-sqlite3 Database, a node:sqlite DatabaseSync or an sqlite-wasm DB');
}
