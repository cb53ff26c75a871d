/**
 * Opening a database with sqlite-wasm by path. In a browser the app opens its OPFS database itself
 * (`openOpfsDatabase` in the browser entry) and hands the connection over; this is the path form:
 * ':memory:' everywhere, and in Node a file path as an in-memory image of the file.
 *
 * sqlite-wasm has no VFS for Node's file system. So that the suite can run on this adapter in Node,
 * a path opens as a copy of the file in memory (read on open, written back on close; a second
 * connection to the same path in this process starts from the first one's current image). It is
 * what the tests need, not a way to share a file between processes: no locking, no WAL.
 */
import type { Database } from '@sqlite.org/sqlite-wasm';
import type { SqliteDriver } from '../port.ts';
import { sqliteWasm, sqliteWasmDriver } from './driver.ts';

interface NodeFs {
  existsSync(path: string): boolean;
  readFileSync(path: string): Uint8Array;
  writeFileSync(path: string, data: Uint8Array): void;
}

/** Image connections open in this process, by path. */
const openImages = new Map<string, Set<Database>>();

export function openSqliteWasm(path: string, options: { readOnly?: boolean } = {}): SqliteDriver {
  const sqlite3 = sqliteWasm();
  const flags = options.readOnly === true ? 'r' : 'c';
  if (path === ':memory:' || path === '') return sqliteWasmDriver(new sqlite3.oo1.DB(':memory:', flags), ':memory:');
  const fs = (globalThis as { process?: { getBuiltinModule?: (name: string) => unknown } }).process?.getBuiltinModule?.('node:fs') as NodeFs | undefined;
  if (fs === undefined) throw new Error(`sqlite-wasm: a path opens only in Node; in a browser open an OPFS database and pass its connection (${JSON.stringify(path)})`);
  const siblings = openImages.get(path) ?? new Set<Database>();
  const [sibling] = siblings;
  const image = sibling !== undefined ? sqlite3.capi.sqlite3_js_db_export(sibling) : fs.existsSync(path) ? fs.readFileSync(path) : undefined;
  if (image === undefined && options.readOnly === true) throw new Error(`sqlite-wasm: unable to open database file ${path}`);
  const db = new sqlite3.oo1.DB(':memory:', 'c');
  try {
    if (image !== undefined && image.byteLength > 0) loadImage(db, image, options.readOnly === true);
  } catch (error) {
    db.close();
    throw error;
  }
  siblings.add(db);
  openImages.set(path, siblings);
  return sqliteWasmDriver(db, path, (closing) => {
    siblings.delete(closing);
    if (siblings.size === 0) openImages.delete(path);
    if (options.readOnly !== true) fs.writeFileSync(path, sqlite3.capi.sqlite3_js_db_export(closing));
  });
}

function loadImage(db: Database, image: Uint8Array, readOnly: boolean): void {
  const { capi, wasm } = sqliteWasm();
  const bytes = image.byteLength;
  // A Node Buffer is a Uint8Array subclass, which the allocator does not recognise.
  const at = wasm.allocFromTypedArray(new Uint8Array(image.buffer, image.byteOffset, image.byteLength));
  const flags = capi.SQLITE_DESERIALIZE_FREEONCLOSE | (readOnly ? capi.SQLITE_DESERIALIZE_READONLY : capi.SQLITE_DESERIALIZE_RESIZEABLE);
  const rc = capi.sqlite3_deserialize(db, 'main', at, bytes, bytes, flags);
  if (rc !== 0) {
    // FREEONCLOSE owns the buffer only once deserialize has accepted it.
    wasm.dealloc(at);
    sqliteWasm().oo1.DB.checkRc(db, rc);
  }
}
