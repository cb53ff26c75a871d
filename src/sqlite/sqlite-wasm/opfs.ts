/**
 * A database in the browser's Origin Private File System through sqlite-wasm's SAH-pool VFS
 * (`installOpfsSAHPoolVfs`): synchronous access handles, so it runs in a dedicated worker only, with
 * no SharedArrayBuffer and no COOP/COEP headers. The pool holds its handles exclusively: one
 * worker of an origin has the database open at a time (a second one's install fails until the
 * first closes it; ahenk/browser picks that one worker with a Web Lock).
 */
import type { SqliteDriver } from '../port.ts';
import { loadSqliteWasm, sqliteWasmDriver } from './driver.ts';

export interface OpfsOptions {
  /** The OPFS directory the pool keeps its files in; a different directory is a separate store. @default '.ahenk' */
  directory?: string;
  /** Files the pool keeps ready (a database needs about three: itself, its journal, temp files). @default 6 */
  initialCapacity?: number;
}

/** Opens (or creates) `file` (a name such as '/app.db') in OPFS: a port driver over it. */
export async function openOpfsSahPool(file: string, options: OpfsOptions = {}): Promise<SqliteDriver> {
  if (!file.startsWith('/')) throw new TypeError(`an OPFS database name starts with "/" (got ${JSON.stringify(file)})`);
  const sqlite3 = await loadSqliteWasm();
  const directory = options.directory ?? '.ahenk';
  const install = {
    directory,
    name: `ahenk-sahpool-${directory.replace(/[^A-Za-z0-9]/g, '_')}`,
    initialCapacity: options.initialCapacity ?? 6,
    // While another worker still holds the files, installing fails: without these two, sqlite-wasm
    // deletes the pool's directory on that failure and caches it, so a retry could never succeed.
    preserveOnInitFailure: true,
    // (in sqlite-wasm's code and docs, not in its .d.ts)
    forceReinitIfPreviouslyFailed: true,
  };
  const pool = await sqlite3.installOpfsSAHPoolVfs(install);
  const db = new pool.OpfsSAHPoolDb(file);
  // The pool's files are this worker's alone anyway; exclusive locking is what lets SQLite use WAL
  // without shared memory (initializeDatabase then switches to it).
  db.exec('PRAGMA locking_mode = EXCLUSIVE');
  return sqliteWasmDriver(db, file);
}
