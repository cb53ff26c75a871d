/**
 * The better-sqlite3 adapter, the default on Node: the only file that imports better-sqlite3.
 * Statements read integers as bigint (safeIntegers) and toggle raw mode only when asked for arrays.
 */
import Database from 'better-sqlite3';
import type { SqliteDriver, SqliteStatement, SqlParams, SqlRow, SqlRunResult, SqlValue, StatementOptions } from '../port.ts';

type Native = Database.Database;
type NativeStatement = Database.Statement<unknown[], unknown>;

class BetterSqlite3Statement implements SqliteStatement {
  private raw = false;

  constructor(private readonly native: NativeStatement) {}

  private mode(raw: boolean): NativeStatement {
    if (this.raw !== raw) {
      this.native.raw(raw);
      this.raw = raw;
    }
    return this.native;
  }

  run(...params: SqlParams): SqlRunResult {
    return this.native.run(...params);
  }

  get(...params: SqlParams): SqlRow | undefined {
    return this.mode(false).get(...params) as SqlRow | undefined;
  }

  all(...params: SqlParams): SqlRow[] {
    return this.mode(false).all(...params) as SqlRow[];
  }

  iterate(...params: SqlParams): IterableIterator<SqlRow> {
    return this.mode(false).iterate(...params) as IterableIterator<SqlRow>;
  }

  getValues(...params: SqlParams): SqlValue[] | undefined {
    return this.mode(true).get(...params) as SqlValue[] | undefined;
  }

  values(...params: SqlParams): SqlValue[][] {
    return this.mode(true).all(...params) as SqlValue[][];
  }

  iterateValues(...params: SqlParams): IterableIterator<SqlValue[]> {
    return this.mode(true).iterate(...params) as IterableIterator<SqlValue[]>;
  }

  value(...params: SqlParams): SqlValue | undefined {
    return this.getValues(...params)?.[0];
  }
}

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
    return new BetterSqlite3Statement(native);
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
export function openBetterSqlite3(path: string, options: { readOnly?: boolean } = {}): SqliteDriver {
  return new BetterSqlite3Driver(new Database(path, options.readOnly === true ? { readonly: true, fileMustExist: true } : {}));
}
