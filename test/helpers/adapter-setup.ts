// Run before every test file (vitest setupFiles): on the sqlite-wasm adapter the module compiles
// its WebAssembly once, asynchronously, before anything opens a database synchronously.
import { loadSqliteWasm } from '../../src/sqlite/index.ts';

if (process.env.AHENK_SQLITE === 'sqlite-wasm') await loadSqliteWasm();
