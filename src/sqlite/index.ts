export { ConnectionSlot, SqliteConnection, type TransactionMode } from './connection.ts';
export { applyMigrations, drizzleOverPort, migrateOverPort, type PortDatabase, type PortMigrationConfig } from './drizzle/index.ts';
export { ADAPTERS, checkAdapter, defaultAdapter, isNotADatabaseError, isSqliteError, openConnection, type OpenOptions, type SqliteTarget } from './open.ts';
export type { AdapterName, DriverConnection, SqliteDriver, SqliteStatement, SqlParams, SqlRow, SqlRunResult, SqlValue, StatementOptions } from './port.ts';
export { connectionOf, type DatabaseHandle } from './handle.ts';
export { isSqliteWasmClient, loadSqliteWasm, openOpfsSahPool, sqliteWasmDriver, type OpfsOptions } from './sqlite-wasm/index.ts';
export { quoteIdent } from './identifiers.ts';
export { base64, compareSqlValues, fromBase64, fromSqlite, isSqlValue, setOwn, sqlValuesEqual, utf8ByteLength } from './values.ts';
