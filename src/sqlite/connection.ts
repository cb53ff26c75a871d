/**
 * One open database as Ahenk's core sees it: the adapter's driver plus everything Ahenk keeps per
 * connection (cached statements and the slots other rooms register: capture catalog, resolvers,
 * the oplog watcher). One object per open connection, so no state is keyed by a driver's handle.
 */
import { StorageError } from '../errors.ts';
import type { AdapterName, SqliteDriver, SqliteStatement, SqlValue, StatementOptions } from './port.ts';
import { storageFailureOf } from './result-codes.ts';

export type TransactionMode = 'immediate' | 'deferred' | 'exclusive';

/** A named place for per-connection state, declared by the room that owns the state. */
export class ConnectionSlot<T> {
  constructor(readonly description: string) {}
}

export class SqliteConnection {
  private readonly statements = new Map<string, SqliteStatement>();
  private readonly slots = new Map<ConnectionSlot<unknown>, unknown>();
  private savepoints = 0;

  constructor(readonly driver: SqliteDriver) {}

  get adapter(): AdapterName {
    return this.driver.adapter;
  }

  get path(): string {
    return this.driver.path;
  }

  get isOpen(): boolean {
    return this.driver.isOpen;
  }

  get inTransaction(): boolean {
    return this.driver.inTransaction;
  }

  /** A new statement; prefer `cached` for SQL that runs again and again. */
  prepare(sql: string, options?: StatementOptions): SqliteStatement {
    return this.driver.prepare(sql, options);
  }

  /** A statement prepared once per connection (SQLite re-prepares it itself after a schema change). */
  cached(sql: string, options?: StatementOptions): SqliteStatement {
    const key = options?.integers === 'number' ? `n:${sql}` : sql;
    let statement = this.statements.get(key);
    if (statement === undefined) this.statements.set(key, (statement = this.driver.prepare(sql, options)));
    return statement;
  }

  exec(sql: string): void {
    this.driver.exec(sql);
  }

  /** A pragma's value (its first column), e.g. pragma('journal_mode') -> 'wal'. */
  pragma(name: string): SqlValue | undefined {
    if (!/^[a-z_]+$/.test(name)) throw new TypeError(`not a pragma name: ${JSON.stringify(name)}`);
    return this.driver.prepare(`PRAGMA ${name}`).value();
  }

  /**
   * Runs `body` in a transaction: BEGIN IMMEDIATE (or DEFERRED, for reads, or EXCLUSIVE) at the
   * outside, a savepoint when one is already open; commits on return and rolls back on a throw.
   * A body that returns normally after SQLite rolled the transaction back itself (RAISE(ROLLBACK)
   * in a trigger, a full disk) gets an error, not a commit of nothing.
   */
  transaction<T>(body: () => T, mode: TransactionMode = 'immediate'): T {
    const nested = this.driver.inTransaction;
    const savepoint = `ahenk_sp${this.savepoints}`;
    if (nested) {
      this.driver.exec(`SAVEPOINT ${savepoint}`);
      this.savepoints++;
    } else {
      this.driver.exec(mode === 'immediate' ? 'BEGIN IMMEDIATE' : mode === 'exclusive' ? 'BEGIN EXCLUSIVE' : 'BEGIN');
    }
    try {
      const result = body();
      if (typeof (result as { then?: unknown } | null)?.then === 'function') {
        throw new TypeError('a transaction body must be synchronous (it returned a promise)');
      }
      if (!this.driver.inTransaction) throw new Error('SQLite rolled the transaction back before it could commit');
      if (nested) this.driver.exec(`RELEASE ${savepoint}`);
      else this.driver.exec('COMMIT');
      return result;
    } catch (error) {
      // SQLite may already have rolled back on its own (a full disk, an interrupted statement).
      if (this.driver.inTransaction) {
        if (nested) this.driver.exec(`ROLLBACK TO ${savepoint}; RELEASE ${savepoint}`);
        else this.driver.exec('ROLLBACK');
      }
      throw error;
    } finally {
      if (nested) this.savepoints--;
    }
  }

  isConstraintError(error: unknown): boolean {
    return this.driver.isConstraintError(error);
  }

  isSqliteError(error: unknown): boolean {
    return this.driver.isSqliteError(error);
  }

  /** SQLite's result code of one of this connection's errors, by name ('SQLITE_FULL'); undefined for other errors. */
  sqliteCode(error: unknown): string | undefined {
    return this.driver.sqliteCode(error);
  }

  /**
   * The StorageError that a SQLite error of this connection is when it refused to write or read
   * the file (full disk, read-only media, I/O error); undefined for any other error.
   */
  storageError(error: unknown, operation: string): StorageError | undefined {
    const sqliteCode = this.driver.sqliteCode(error);
    const code = sqliteCode === undefined ? undefined : storageFailureOf(sqliteCode);
    return code === undefined ? undefined : new StorageError(code, this.path, operation, sqliteCode!, { cause: error });
  }

  /**
   * Runs Ahenk's own statements (not the app's): a full disk, read-only media or an I/O error
   * comes out as a StorageError naming the database and `operation`, not the driver's own error.
   */
  withStorageErrors<T>(operation: string, body: () => T): T {
    try {
      return body();
    } catch (error) {
      throw this.storageError(error, operation) ?? error;
    }
  }

  /** The state a room keeps for this connection, made on first use. */
  slot<T>(slot: ConnectionSlot<T>, create: () => T): T {
    if (this.slots.has(slot)) return this.slots.get(slot) as T;
    const value = create();
    this.slots.set(slot, value);
    return value;
  }

  /** Drops a slot's state (the next `slot` call makes it anew). */
  clearSlot(slot: ConnectionSlot<unknown>): void {
    this.slots.delete(slot);
  }

  close(): void {
    this.statements.clear();
    this.slots.clear();
    if (this.driver.isOpen) this.driver.close();
  }
}
