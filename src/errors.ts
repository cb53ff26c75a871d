/**
 * Every error Ahenk raises on purpose is an `AhenkError` with a stable `code`, so callers can
 * branch on `error.code` (or `instanceof`) instead of parsing messages.
 */
export class AhenkError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AhenkError';
    this.code = code;
  }
}

/** A synced table definition breaks a rule of `defineSyncedTable`; raised at definition time. */
export class SchemaError extends AhenkError {
  readonly table: string;
  readonly column: string | undefined;

  constructor(table: string, column: string | undefined, message: string) {
    super('SCHEMA_INVALID', message);
    this.name = 'SchemaError';
    this.table = table;
    this.column = column;
  }
}

/** A remote or hand-built oplog entry is malformed: `merge` rejects the whole batch. */
export class InvalidEntryError extends AhenkError {
  readonly index: number;

  constructor(index: number, message: string) {
    super('ENTRY_INVALID', `oplog entry #${index}: ${message}`);
    this.name = 'InvalidEntryError';
    this.index = index;
  }
}

/** A cursor passed to `getOplogEntriesSince` is not one this library produced. */
export class InvalidCursorError extends AhenkError {
  constructor(message: string) {
    super('CURSOR_INVALID', message);
    this.name = 'InvalidCursorError';
  }
}

/** A column declares a resolver this process does not know (custom resolvers are code). */
export class ResolverError extends AhenkError {
  constructor(message: string) {
    super('RESOLVER_UNKNOWN', message);
    this.name = 'ResolverError';
  }
}

/** The database file was written by a newer Ahenk, or its system tables are damaged. */
export class DatabaseError extends AhenkError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DATABASE_INVALID', message, options);
    this.name = 'DatabaseError';
  }
}

/**
 * The device key cannot be had: `DEVICE_KEY_MISSING` (the database has a device id but its key is
 * gone, e.g. a browser's site data was partly cleared), `DEVICE_KEY_RESET_UNSUPPORTED`
 * (resetIdentity on a browser-held key), `DEVICE_KEY_NOT_EXTRACTABLE` (the raw bytes of a
 * non-extractable key were asked for), `DEVICE_KEY_STORE_FAILED` (IndexedDB refused or is absent).
 */
export class DeviceKeyError extends AhenkError {
  constructor(code: 'DEVICE_KEY_MISSING' | 'DEVICE_KEY_RESET_UNSUPPORTED' | 'DEVICE_KEY_NOT_EXTRACTABLE' | 'DEVICE_KEY_STORE_FAILED', message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'DeviceKeyError';
  }
}

/**
 * The app's drizzle-kit migrations folder (`migrationsFolder`) is not there, or holds no
 * `meta/_journal.json`. `folder` is the path as resolved against the working directory.
 */
export class MigrationsFolderError extends AhenkError {
  readonly folder: string;

  constructor(folder: string, message: string) {
    super('MIGRATIONS_NOT_FOUND', message);
    this.name = 'MigrationsFolderError';
    this.folder = folder;
  }
}

/** Account and device errors keep the seed's messages; `code` tells them apart. */
export class AuthError extends AhenkError {
  constructor(code: AuthErrorCode, message: string) {
    super(code, message);
    this.name = 'AuthError';
  }
}

export type AuthErrorCode =
  | 'USERNAME_TAKEN'
  | 'EMAIL_TAKEN'
  | 'INVALID_CREDENTIALS'
  | 'USER_NOT_FOUND'
  | 'DEVICE_TYPE_EMPTY'
  | 'DEVICE_NOT_FOUND'
  | 'PEER_ID_TAKEN'
  | 'PEER_ID_REVOKED'
  | 'INVALID_INPUT';

/**
 * What SQLite refused when it could not write (or read) the database file: `DISK_FULL` (SQLITE_FULL:
 * no space left, or the file's size cap), `DISK_READ_ONLY` (SQLITE_READONLY*: the file, its folder
 * or its filesystem is read-only, or the connection is query-only), `DISK_IO_ERROR` (SQLITE_IOERR*,
 * SQLITE_CANTOPEN: the operating system failed a read or write, e.g. a filesystem remounted
 * read-only after an error).
 */
export type StorageErrorCode = 'DISK_FULL' | 'DISK_READ_ONLY' | 'DISK_IO_ERROR';

/**
 * Ahenk's own work on the database (applying a sync batch, saving a cursor, compaction, pairing, a
 * migration) stopped because SQLite could not write the file. Nothing of that work was applied (its
 * transaction rolled back); sync tries again, with a growing delay, and goes on once the file can be
 * written again. `database` is the file's path, `operation` what Ahenk was doing, `sqliteCode`
 * SQLite's own code (e.g. 'SQLITE_FULL', 'SQLITE_IOERR_WRITE').
 */
export class StorageError extends AhenkError {
  declare readonly code: StorageErrorCode;
  readonly database: string;
  readonly operation: string;
  readonly sqliteCode: string;

  constructor(code: StorageErrorCode, database: string, operation: string, sqliteCode: string, options?: { cause?: unknown }) {
    super(code, `${operation}: ${STORAGE_PROBLEMS[code]} (${sqliteCode}, database ${database}); nothing of it was applied`, options);
    this.name = 'StorageError';
    this.database = database;
    this.operation = operation;
    this.sqliteCode = sqliteCode;
  }
}

const STORAGE_PROBLEMS: Record<StorageErrorCode, string> = {
  DISK_FULL: 'the disk is full',
  DISK_READ_ONLY: 'the database is read-only',
  DISK_IO_ERROR: 'the disk failed a read or write',
};
