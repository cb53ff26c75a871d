/**
 * The storage port: the small synchronous surface Ahenk needs from SQLite. Synchronous on purpose:
 * better-sqlite3, node:sqlite and sqlite-wasm in a worker all offer it, and merge holds a write
 * transaction across many statements. Adapters (one folder each) are the only code that names a
 * driver; everything above them sees these types.
 */

/** A value as SQLite stores it: INTEGER reads as bigint (exact to 64 bits), BLOB as Uint8Array. */
export type SqlValue = null | bigint | number | string | Uint8Array;

/** Positional parameters; numbers bind as REAL, bigints as INTEGER, as in both Node drivers. */
export type SqlParams = readonly SqlValue[];

/** One result row by column name; integers as bigint unless the statement asked for numbers. */
export type SqlRow = Record<string, SqlValue>;

export interface SqlRunResult {
  changes: number | bigint;
  lastInsertRowid: number | bigint;
}

export interface StatementOptions {
  /**
   * How INTEGER columns read: 'bigint' (exact, what Ahenk's own code uses) or 'number' (what an
   * ORM expects for app columns). Beyond 2^53 the drivers differ: better-sqlite3 rounds, node:sqlite
   * throws a RangeError. Ahenk's own reads use 'bigint', so sync itself is exact either way.
   * @default 'bigint'
   */
  integers?: 'bigint' | 'number';
}

export interface SqliteStatement {
  run(...params: SqlParams): SqlRunResult;
  /** The first row, or undefined. */
  get(...params: SqlParams): SqlRow | undefined;
  all(...params: SqlParams): SqlRow[];
  iterate(...params: SqlParams): IterableIterator<SqlRow>;
  /** The first row as an array of its columns, or undefined. */
  getValues(...params: SqlParams): SqlValue[] | undefined;
  /** Every row as an array of its columns, in select order (duplicate names kept). */
  values(...params: SqlParams): SqlValue[][];
  iterateValues(...params: SqlParams): IterableIterator<SqlValue[]>;
  /** The first column of the first row, or undefined when there is no row. */
  value(...params: SqlParams): SqlValue | undefined;
}

export type AdapterName = 'better-sqlite3' | 'node:sqlite' | 'sqlite-wasm';

/** A driver's own connection object, as far as Ahenk's types need to know it. */
export interface DriverConnection {
  prepare(sql: string): unknown;
  close(): unknown;
}

/** What an adapter implements over one open driver connection. */
export interface SqliteDriver {
  readonly adapter: AdapterName;
  /** The driver's own connection object (what Drizzle calls `$client`). */
  readonly client: DriverConnection;
  /** The file this connection opened, or ':memory:'. */
  readonly path: string;
  readonly isOpen: boolean;
  readonly inTransaction: boolean;
  prepare(sql: string, options?: StatementOptions): SqliteStatement;
  exec(sql: string): void;
  close(): void;
  /** Whether the error is SQLite refusing a write for a constraint (UNIQUE, NOT NULL, CHECK ...). */
  isConstraintError(error: unknown): boolean;
  /** Whether the error came from SQLite itself (as opposed to a bug or a bad argument). */
  isSqliteError(error: unknown): boolean;
  /**
   * SQLite's result code of an error of this driver, by name ('SQLITE_FULL', 'SQLITE_IOERR_WRITE';
   * the primary name where the driver gives only a number it does not name), else undefined.
   */
  sqliteCode(error: unknown): string | undefined;
}
