/**
 * The sqlite-wasm adapter (`@sqlite.org/sqlite-wasm`, SQLite compiled to WebAssembly): the only
 * folder that names that package. Statements run through the C API (`capi`) with the oo1 classes
 * only for opening, preparing and closing, so each value keeps its storage class exactly as on the
 * Node drivers: INTEGER reads as bigint (or number when asked), numbers bind as REAL, bigints as
 * INTEGER, blobs as Uint8Array.
 *
 * The module loads asynchronously (it compiles its wasm), once per realm: `loadSqliteWasm()` first,
 * then every open is synchronous, as the port is.
 */
import { primaryCodeName } from '../result-codes.ts';
import type { Database, PreparedStatement, Sqlite3Static } from '@sqlite.org/sqlite-wasm';
import type { SqliteDriver, SqliteStatement, SqlParams, SqlRow, SqlRunResult, SqlValue, StatementOptions } from '../port.ts';

let loaded: Sqlite3Static | undefined;
let loading: Promise<Sqlite3Static> | undefined;

/** Loads and initialises sqlite-wasm once (later calls get the same module). */
export function loadSqliteWasm(): Promise<Sqlite3Static> {
  loading ??= import('@sqlite.org/sqlite-wasm').then(async ({ default: init }) => {
    const sqlite3 = await init();
    // step() reports every failing statement on the console as well as throwing: the throw is enough.
    sqlite3.config.warn = () => {};
    loaded = sqlite3;
    return sqlite3;
  });
  return loading;
}

/** The loaded module; opening before `loadSqliteWasm()` resolved is a programmer error. */
export function sqliteWasm(): Sqlite3Static {
  if (loaded === undefined) throw new Error('sqlite-wasm is not loaded yet: await loadSqliteWasm() before opening a database with it');
  return loaded;
}

/**
 * sqlite-wasm prefixes SQLite's message with the code ("SQLITE_CONSTRAINT_CHECK: sqlite3 result
 * code 275: CHECK constraint failed: n >= 0"); the Node drivers give SQLite's message alone and the
 * code apart. Errors leave this adapter in that shape, so a message reads the same on every adapter.
 */
function plainError(sqlite3: Sqlite3Static, error: unknown): unknown {
  if (error instanceof Error && error.name === 'SQLite3Error' && typeof (error as { resultCode?: unknown }).resultCode === 'number') {
    const resultCode = (error as unknown as { resultCode: number }).resultCode;
    error.message = error.message.replace(/^SQLITE_[A-Z0-9_]+: sqlite3 result code \d+: /, '');
    const withCode = error as Error & { code?: string };
    withCode.code ??= sqlite3.capi.sqlite3_js_rc_str(resultCode) ?? `SQLITE_${resultCode}`;
  }
  return error;
}

/** Text as SQLite holds it: a leading U+FEFF kept, invalid UTF-8 replaced (as sqlite-wasm's own reader does). */
const textDecoder = new TextDecoder('utf-8', { ignoreBOM: true });
const SQLITE_ROW = 100;
const SQLITE_DONE = 101;
const INTEGER = 1;
const FLOAT = 2;
const TEXT = 3;
const BLOB = 4;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

class WasmStatement implements SqliteStatement {
  private readonly pointer: number;
  private names: string[] | undefined;

  constructor(
    private readonly sqlite3: Sqlite3Static,
    private readonly db: Database,
    private readonly stmt: PreparedStatement,
    private readonly bigints: boolean,
  ) {
    this.pointer = stmt.pointer as number;
  }

  private start(params: SqlParams): void {
    const { capi } = this.sqlite3;
    capi.sqlite3_reset(this.pointer);
    capi.sqlite3_clear_bindings(this.pointer);
    const expected = capi.sqlite3_bind_parameter_count(this.pointer);
    if (params.length !== expected) throw new RangeError(`this statement takes ${expected} parameter(s), ${params.length} given`);
    for (let i = 0; i < params.length; i++) {
      const value = params[i];
      const at = i + 1;
      let rc = 0;
      if (value === null) rc = capi.sqlite3_bind_null(this.pointer, at);
      else if (typeof value === 'bigint') {
        if (value < INT64_MIN || value > INT64_MAX) throw new RangeError(`parameter ${at}: ${value} does not fit in a 64-bit integer`);
        rc = capi.sqlite3_bind_int64(this.pointer, at, value);
      } else if (typeof value === 'number') rc = capi.sqlite3_bind_double(this.pointer, at, value);
      else if (typeof value === 'string' || value instanceof Uint8Array) this.stmt.bind(at, value);
      else throw new TypeError(`parameter ${at}: SQLite cannot bind a ${value === undefined ? 'undefined' : typeof value}`);
      if (rc !== 0) {
        try {
          this.sqlite3.oo1.DB.checkRc(this.db, rc);
        } catch (error) {
          throw plainError(this.sqlite3, error);
        }
      }
    }
  }

  /** One step: true for a row, false when done; an error resets the statement and throws. */
  private step(): boolean {
    const rc = this.sqlite3.capi.sqlite3_step(this.pointer);
    if (rc === SQLITE_ROW) return true;
    if (rc === SQLITE_DONE) return false;
    // sqlite3_reset gives the extended code and leaves the statement reusable.
    const code = this.sqlite3.capi.sqlite3_reset(this.pointer);
    try {
      this.sqlite3.oo1.DB.checkRc(this.db, code === 0 ? rc : code);
    } catch (error) {
      throw plainError(this.sqlite3, error);
    }
    return false;
  }

  private finish(): void {
    this.sqlite3.capi.sqlite3_reset(this.pointer);
  }

  private column(i: number): SqlValue {
    const { capi, wasm } = this.sqlite3;
    switch (capi.sqlite3_column_type(this.pointer, i)) {
      case INTEGER: {
        const value = capi.sqlite3_column_int64(this.pointer, i) as unknown as bigint;
        return this.bigints ? BigInt(value) : Number(value);
      }
      case FLOAT:
        return capi.sqlite3_column_double(this.pointer, i);
      case TEXT: {
        // Decoded here rather than by sqlite3_column_text, whose decoder drops a leading U+FEFF: a
        // key '\uFEFFk' would read back as 'k', another row.
        const at = Number(capi.sqlite3_column_blob(this.pointer, i));
        return this.utf8(at, capi.sqlite3_column_bytes(this.pointer, i));
      }
      case BLOB: {
        const n = capi.sqlite3_column_bytes(this.pointer, i);
        if (n === 0) return new Uint8Array(0);
        const at = Number(capi.sqlite3_column_blob(this.pointer, i));
        return wasm.heap8u().slice(at, at + n);
      }
      default:
        return null;
    }
  }

  /** `length` bytes of UTF-8 at `at` in the WASM heap, as SQLite holds them (textDecoder). */
  private utf8(at: number, length: number): string {
    if (length === 0) return '';
    const bytes = this.sqlite3.wasm.heap8u().subarray(at, at + length);
    // TextDecoder refuses a view of shared memory (a build whose heap is a SharedArrayBuffer).
    return textDecoder.decode(bytes.buffer instanceof ArrayBuffer ? bytes : bytes.slice());
  }

  private columnNames(): string[] {
    if (this.names === undefined) {
      const { capi, wasm } = this.sqlite3;
      const n = capi.sqlite3_column_count(this.pointer);
      // From the raw pointer, as for text values (see column()): capi's string keeps no leading U+FEFF.
      this.names = Array.from({ length: n }, (_, i) => {
        const at = Number(wasm.exports.sqlite3_column_name(this.pointer, i));
        return at === 0 ? '' : this.utf8(at, wasm.cstrlen(at) ?? 0);
      });
    }
    return this.names;
  }

  private arrayRow(): SqlValue[] {
    const n = this.sqlite3.capi.sqlite3_column_count(this.pointer);
    const row = new Array<SqlValue>(n);
    for (let i = 0; i < n; i++) row[i] = this.column(i);
    return row;
  }

  private objectRow(): SqlRow {
    const names = this.columnNames();
    const row: SqlRow = {};
    for (let i = 0; i < names.length; i++) row[names[i]!] = this.column(i);
    return row;
  }

  private *rows<T>(params: SqlParams, read: () => T): IterableIterator<T> {
    this.start(params);
    try {
      while (this.step()) yield read();
    } finally {
      this.finish();
    }
  }

  private first<T>(params: SqlParams, read: () => T): T | undefined {
    this.start(params);
    try {
      return this.step() ? read() : undefined;
    } finally {
      this.finish();
    }
  }

  private every<T>(params: SqlParams, read: () => T): T[] {
    this.start(params);
    try {
      const out: T[] = [];
      while (this.step()) out.push(read());
      return out;
    } finally {
      this.finish();
    }
  }

  run(...params: SqlParams): SqlRunResult {
    this.start(params);
    try {
      while (this.step());
    } finally {
      this.finish();
    }
    const { capi } = this.sqlite3;
    return { changes: Number(capi.sqlite3_changes64(this.db)), lastInsertRowid: BigInt(capi.sqlite3_last_insert_rowid(this.db)) };
  }

  get(...params: SqlParams): SqlRow | undefined {
    return this.first(params, () => this.objectRow());
  }

  all(...params: SqlParams): SqlRow[] {
    return this.every(params, () => this.objectRow());
  }

  iterate(...params: SqlParams): IterableIterator<SqlRow> {
    return this.rows(params, () => this.objectRow());
  }

  getValues(...params: SqlParams): SqlValue[] | undefined {
    return this.first(params, () => this.arrayRow());
  }

  values(...params: SqlParams): SqlValue[][] {
    return this.every(params, () => this.arrayRow());
  }

  iterateValues(...params: SqlParams): IterableIterator<SqlValue[]> {
    return this.rows(params, () => this.arrayRow());
  }

  value(...params: SqlParams): SqlValue | undefined {
    return this.first(params, () => this.column(0));
  }
}

/** What the driver does when its connection closes (a Node image connection writes its file back). */
export type CloseHook = (db: Database) => void;

class SqliteWasmDriver implements SqliteDriver {
  readonly adapter = 'sqlite-wasm';

  constructor(
    private readonly sqlite3: Sqlite3Static,
    readonly client: Database,
    readonly path: string,
    private readonly onClose?: CloseHook,
  ) {}

  get isOpen(): boolean {
    return this.client.isOpen();
  }

  get inTransaction(): boolean {
    return this.client.isOpen() && this.sqlite3.capi.sqlite3_get_autocommit(this.client) === 0;
  }

  prepare(sql: string, options?: StatementOptions): SqliteStatement {
    try {
      return new WasmStatement(this.sqlite3, this.client, this.client.prepare(sql), options?.integers !== 'number');
    } catch (error) {
      throw plainError(this.sqlite3, error);
    }
  }

  exec(sql: string): void {
    try {
      this.client.exec(sql);
    } catch (error) {
      throw plainError(this.sqlite3, error);
    }
  }

  close(): void {
    this.onClose?.(this.client);
    this.client.close();
  }

  isConstraintError(error: unknown): boolean {
    // The primary result code is the low byte of the extended one; 19 is SQLITE_CONSTRAINT.
    return this.isSqliteError(error) && ((error as { resultCode: number }).resultCode & 0xff) === 19;
  }

  sqliteCode(error: unknown): string | undefined {
    if (!this.isSqliteError(error)) return undefined;
    const { code, resultCode } = error as { code?: unknown; resultCode: number };
    return typeof code === 'string' ? code : primaryCodeName(resultCode);
  }

  isSqliteError(error: unknown): boolean {
    return error instanceof Error && error.name === 'SQLite3Error' && typeof (error as { resultCode?: unknown }).resultCode === 'number';
  }
}

/** Whether `value` is an sqlite-wasm oo1 database (of the loaded module). */
export function isSqliteWasmClient(value: unknown): value is Database {
  return loaded !== undefined && value instanceof loaded.oo1.DB;
}

/** The path and close hook of a database opened by path here, for when the app hands it back. */
const opened = new WeakMap<Database, { path: string; onClose: CloseHook | undefined }>();

/** Adapts an oo1 database the caller opened (for instance an `OpfsSAHPoolDb`). */
export function sqliteWasmDriver(client: Database, path?: string, onClose?: CloseHook): SqliteDriver {
  const known = opened.get(client);
  if (path !== undefined) opened.set(client, { path, onClose });
  return new SqliteWasmDriver(sqliteWasm(), client, path ?? known?.path ?? client.filename ?? ':memory:', onClose ?? known?.onClose);
}
