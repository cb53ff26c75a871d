/**
 * The better-sqlite3 adapter, the default on Node: the only file that imports better-sqlite3.
 * Statements read integers as bigint (safeIntegers) and toggle raw mode only when asked for arrays.
 */
import Database from 'better-sqlite3';
import type { SqliteDriver, SqliteStatement, StatementOptions } from '../port.ts';
import { ModalStatement, type DriverStatement } from '../statement.ts';

type Native = Database.Database;

class BetterSqlite3Driver implements SqliteDriver {
  readonly adapter = 'better-sqlite3';

  constructor(readonly client: Native) {}

  get path(): string {
    return this.client.name;
  }

  get isOpen(): boolean {
    return this.client.open;
  }

  get inTransaction(): boolean {
    return this.client.inTransaction;
  }

  prepare(sql: string, options?: StatementOptions): SqliteStatement {
    const native = this.client.prepare(sql);
    native.safeIntegers(options?.integers !== 'number');
    return new ModalStatement(native as unknown as DriverStatement, (arrays) => native.raw(arrays));
  }

  exec(sql: string): void {
    this.client.exec(sql);
  }

  close(): void {
    this.client.close();
  }

  isConstraintError(error: unknown): boolean {
    return this.isSqliteError(error) && String((error as { code?: unknown }).code).startsWith('SQLITE_CONSTRAINT');
  }

  sqliteCode(error: unknown): string | undefined {
    return this.isSqliteError(error) ? String((error as { code: string }).code) : undefined;
  }

  isSqliteError(error: unknown): boolean {
    // By name too: a connection from another copy of the package throws that copy's class.
    return error instanceof Database.SqliteError || (error instanceof Error && error.name === 'SqliteError' && typeof (error as { code?: unknown }).code === 'string');
  }
}

/**
 * Whether `value` is a better-sqlite3 connection, also one made by another copy of the package
 * (an app that pins its own): the class, else its shape. The native addon is not asked.
 */
export function isBetterSqlite3Client(value: unknown): value is Native {
  if (value instanceof Database) return true;
  if (typeof value !== 'object' || value === null) return false;
  const shape = value as Record<string, unknown>;
  return typeof shape.pragma === 'function' && typeof shape.backup === 'function' && typeof shape.serialize === 'function' && typeof shape.inTransaction === 'boolean';
}

/** Adapts a connection the caller opened with better-sqlite3. */
export function betterSqlite3Driver(client: Native): SqliteDriver {
  return new BetterSqlite3Driver(client);
}

/** Opens `path` (or ':memory:') with better-sqlite3; read-only opens only a file that exists. */
export function openBetterSqlite3(path: string, options: { readOnly?: boolean; busyTimeoutMs?: number } = {}): SqliteDriver {
  const timeout = options.busyTimeoutMs === undefined ? {} : { timeout: options.busyTimeoutMs };
  return new BetterSqlite3Driver(new Database(path, options.readOnly === true ? { readonly: true, fileMustExist: true, ...timeout } : timeout));
}
