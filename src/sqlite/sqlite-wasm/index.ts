export { isSqliteWasmClient, loadSqliteWasm, sqliteWasm, sqliteWasmDriver, type CloseHook } from './driver.ts';
export { openSqliteWasm } from './open.ts';
