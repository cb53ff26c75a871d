export { isSqliteWasmClient, loadSqliteWasm, sqliteWasm, sqliteWasmDriver, type CloseHook } from './driver.ts';
export { openSqliteWasm } from './open.ts';
export { openOpfsSahPool, type OpfsOptions } from './opfs.ts';
