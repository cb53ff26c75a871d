/**
 * The database side of the browser build, run in a dedicated worker: SQLite in WebAssembly on
 * OPFS (SAH pool), opened through the storage port with the same migrations, capture triggers,
 * export and merge as on Node. The page talks to it with messages (page.ts); the app writes with
 * Drizzle's sqlite-proxy driver, whose queries run here.
 *
 * The app's worker module is two lines: import its schema and migrations, call `serveDatabase`.
 */
import type { MigrationMeta } from 'drizzle-orm/migrator';
import { getDeviceId } from '../database/identity.ts';
import { getOplogEntriesSince } from '../database/exchange.ts';
import { initializeDatabase, type AhenkDatabase } from '../database/initialize.ts';
import { merge } from '../merge/merge.ts';
import { openOpfsSahPool, SqliteConnection, type OpfsOptions, type SqlValue } from '../sqlite/index.ts';
import type { WebSyncConfig } from '../sync/web/index.ts';
import { remoteError, type Query, type QueryResult, type Ready, type Request, type Response } from './messages.ts';
import { WorkerSync } from './sync.ts';

export interface ServeOptions<TSchema extends Record<string, unknown>> extends OpfsOptions {
  /** The app's Drizzle schema: its synced tables are captured. */
  schema?: TSchema;
  /** The app's migrations (`migrationsFromBundle`), applied on open before capture is installed. */
  migrations?: readonly MigrationMeta[];
  /** The database's name in OPFS. @default '/ahenk.db' */
  file?: string;
  /** The sync node's settings (it starts on the page's first `sync` call). */
  sync?: WebSyncConfig;
}

/** Opens the OPFS database as initializeDatabase does on Node (call it in a dedicated worker). */
export async function openOpfsDatabase<TSchema extends Record<string, unknown>>(options: ServeOptions<TSchema> = {}): Promise<AhenkDatabase<TSchema>> {
  const driver = await openOpfsSahPool(options.file ?? '/ahenk.db', options);
  const connection = new SqliteConnection(driver);
  try {
    return initializeDatabase(connection, {
      ...(options.schema === undefined ? {} : { schema: options.schema }),
      ...(options.migrations === undefined ? {} : { migrations: options.migrations }),
    });
  } catch (error) {
    connection.close();
    throw error;
  }
}

interface WorkerScope {
  postMessage(message: unknown): void;
  onmessage: ((event: { data: unknown }) => void) | null;
  close(): void;
}

/**
 * Serves the database to the page: opens it, posts `ready` (or `failed`), then answers each request
 * in order. Requests run one at a time, so a transaction the page opens (sqlite-proxy sends BEGIN,
 * its statements, COMMIT) is not interleaved with another request from the same page.
 */
export function serveDatabase<TSchema extends Record<string, unknown>>(options: ServeOptions<TSchema> = {}, scope: WorkerScope = globalThis as unknown as WorkerScope): void {
  let db: AhenkDatabase<TSchema> | undefined;
  let sync: WorkerSync | undefined;
  const queued: Request[] = [];
  scope.onmessage = (event) => {
    queued.push(event.data as Request);
    if (db !== undefined) drain();
  };
  const drain = () => {
    while (queued.length > 0) {
      const request = queued.shift()!;
      if (request.kind === 'sync' || request.kind === 'close') {
        // Sync requests take network time: answered when done, while queries go on. Close stops the node first.
        const done = request.kind === 'sync' ? sync!.answer(request) : sync!.stop().then(() => answer(db!, request));
        done.then(
          (value) => scope.postMessage({ id: request.id, ok: true, value } satisfies Response),
          (error: unknown) => scope.postMessage({ id: request.id, ok: false, error: remoteError(error) } satisfies Response),
        );
        if (request.kind === 'close') {
          void done.finally(() => scope.close());
          return;
        }
        continue;
      }
      let response: Response;
      try {
        response = { id: request.id, ok: true, value: answer(db!, request) };
      } catch (error) {
        response = { id: request.id, ok: false, error: remoteError(error) };
      }
      scope.postMessage(response);
    }
  };
  openOpfsDatabase(options).then(
    (opened) => {
      db = opened;
      sync = new WorkerSync(opened, options.sync ?? {}, (message) => scope.postMessage(message));
      scope.postMessage({ kind: 'ready', deviceId: getDeviceId(opened) } satisfies Ready);
      drain();
    },
    (error: unknown) => scope.postMessage({ kind: 'failed', error: remoteError(error) } satisfies Ready),
  );
}

function answer(db: AhenkDatabase<Record<string, unknown>>, request: Request): unknown {
  switch (request.kind) {
    case 'query':
      return runQuery(db, request);
    case 'batch':
      return db.$connection.transaction(() => request.queries.map((query) => runQuery(db, query)));
    case 'export':
      return getOplogEntriesSince(db, request.since, request.limit === undefined ? {} : { limit: request.limit });
    case 'merge': {
      const result = merge(db, request.entries);
      return { ...result, errors: result.errors.map(remoteError) };
    }
    case 'close':
      db.$connection.close();
      return null;
    case 'sync':
      throw new TypeError('sync requests are answered by the sync node');
    default:
      throw new TypeError(`unknown request ${JSON.stringify((request as { kind?: unknown }).kind)}`);
  }
}

/** One Drizzle query, answered as sqlite-proxy expects (app columns read integers as numbers, as on Node). */
function runQuery(db: AhenkDatabase<Record<string, unknown>>, query: Query): QueryResult {
  const statement = db.$connection.cached(query.sql, { integers: 'number' });
  const params = query.params as SqlValue[];
  switch (query.method) {
    case 'run':
      statement.run(...params);
      return { rows: [] };
    case 'get':
      return { rows: statement.getValues(...params) };
    default:
      return { rows: statement.values(...params) };
  }
}
