/**
 * The node:sqlite adapter (Node 22.16 and later: no native build at install). node:sqlite is
 * loaded with process.getBuiltinModule, so importing Ahenk on a Node without it costs nothing
 * until this adapter is asked for.
 */
import { primaryCodeName } from '../result-codes.ts';
import type { SqliteDriver, SqliteStatement, SqlParams, StatementOptions } from '../port.ts';
import { ModalStatement, type DriverStatement } from '../statement.ts';

/** The parts of node:sqlite's StatementSync this adapter uses. */
interface NativeStatement extends DriverStatement {
  setReadBigInts(enabled: boolean): void;
  setReturnArrays(enabled: boolean): void;
}

/** The parts of node:sqlite's DatabaseSync this adapter uses. */
export interface NodeSqliteClient {
  prepare(sql: string): NativeStatement;
  exec(sql: string): void;
  close(): void;
  readonly isOpen: boolean;
  readonly isTransaction: boolean;
}

interface NodeSqliteModule {
  DatabaseSync: new (path: string, options?: { readOnly?: boolean; timeout?: number }) => NodeSqliteClient;
}

/**
 * node:sqlite binds a zero-length Uint8Array with no memory behind it (which is how it hands out
 * an empty BLOB) as NULL; a fresh empty array binds as the empty BLOB it is.
 */
const EMPTY_BLOB = new Uint8Array(0);

function bindable(params: SqlParams): SqlParams {
  for (const value of params) {
    if (value instanceof Uint8Array && value.byteLength === 0) return params.map((v) => (v instanceof Uint8Array && v.byteLength === 0 ? EMPTY_BLOB : v));
  }
  return params;
}

class NodeSqliteDriver implements SqliteDriver {
  readonly adapter = 'node:sqlite';

  constructor(
    readonly client: NodeSqliteClient,
    readonly path: string,
  ) {}

  get isOpen(): boolean {
    return this.client.isOpen;
  }

  get inTransaction(): boolean {
    return this.client.isTransaction;
  }

  prepare(sql: string, options?: StatementOptions): SqliteStatement {
    const native = this.client.prepare(sql);
    native.setReadBigInts(options?.integers !== 'number');
    // A DatabaseSync the app opened with returnArrays: true hands its statements out in array mode.
    native.setReturnArrays(false);
    return new ModalStatement(native, (arrays) => native.setReturnArrays(arrays), bindable);
  }

  exec(sql: string): void {
    this.client.exec(sql);
  }

  close(): void {
    this.client.close();
  }

  isConstraintError(error: unknown): boolean {
    // The primary result code is the low byte of the extended one; 19 is SQLITE_CONSTRAINT.
    return this.isSqliteError(error) && ((error as { errcode: number }).errcode & 0xff) === 19;
  }

  sqliteCode(error: unknown): string | undefined {
    // node:sqlite gives the extended code as a number only: named by its primary code.
    return this.isSqliteError(error) ? primaryCodeName((error as { errcode: number }).errcode) : undefined;
  }

  isSqliteError(error: unknown): boolean {
    return error instanceof Error && (error as { code?: unknown }).code === 'ERR_SQLITE_ERROR' && typeof (error as { errcode?: unknown }).errcode === 'number';
  }
}

function loadNodeSqlite(): NodeSqliteModule {
  const module = process.getBuiltinModule?.('node:sqlite') as NodeSqliteModule | undefined;
  if (module === undefined) {
    throw new Error(`the node:sqlite adapter needs Node 22.16 or later (this is Node ${process.versions.node})`);
  }
  return module;
}

/**
 * Whether `value` is a node:sqlite database (a DatabaseSync, an app's subclass of it, or the
 * `Database` later Nodes name it): a cheap look at its shape, then the class itself, which is
 * loaded by then since the app made one.
 */
export function isNodeSqliteClient(value: unknown): value is NodeSqliteClient {
  if (typeof value !== 'object' || value === null) return false;
  if (typeof (value as { createSession?: unknown }).createSession !== 'function' || typeof (value as { location?: unknown }).location !== 'function') return false;
  const module = process.getBuiltinModule?.('node:sqlite') as NodeSqliteModule | undefined;
  return module !== undefined && value instanceof module.DatabaseSync;
}

function requireArrays(client: NodeSqliteClient): void {
  const probe = client.prepare('SELECT 1') as Partial<NativeStatement>;
  if (typeof probe.setReturnArrays !== 'function' || typeof probe.setReadBigInts !== 'function') {
    throw new Error(`the node:sqlite adapter needs Node 22.16 or later for StatementSync.setReturnArrays (this is Node ${process.versions.node})`);
  }
}

/** Adapts a DatabaseSync the caller opened; `path` names its file for the oplog watcher. */
export function nodeSqliteDriver(client: NodeSqliteClient, path?: string): SqliteDriver {
  requireArrays(client);
  const location = (client as { location?: () => string | null }).location?.() ?? undefined;
  return new NodeSqliteDriver(client, path ?? location ?? ':memory:');
}

/** better-sqlite3's default: a connection waits this long for another's write lock before SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5000;

/** Opens `path` (or ':memory:') with node:sqlite; read-only opens only a file that exists. */
export function openNodeSqlite(path: string, options: { readOnly?: boolean; busyTimeoutMs?: number } = {}): SqliteDriver {
  const { DatabaseSync } = loadNodeSqlite();
  // Opening prepares a statement, which reads the schema: it waits for a lock like any statement.
  const client = new DatabaseSync(path, { timeout: options.busyTimeoutMs ?? BUSY_TIMEOUT_MS, ...(options.readOnly === true ? { readOnly: true } : {}) });
  try {
    return nodeSqliteDriver(client, path);
  } catch (error) {
    client.close();
    throw error;
  }
}
