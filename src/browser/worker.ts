/**
 * The database side of the browser build, run in a dedicated worker: SQLite in WebAssembly on
 * OPFS (SAH pool), opened through the storage port with the same migrations, capture triggers,
 * export and merge as on Node. The page talks to it with messages (page.ts); the app writes with
 * Drizzle's sqlite-proxy driver, whose queries run here.
 *
 * The app's worker module is two lines: import its schema and migrations, call `serveDatabase`.
 */
import type { MigrationMeta } from 'drizzle-orm/migrator';
import { initializeDatabase, type AhenkDatabase } from '../database/initialize.ts';
import { loadDeviceKey } from './device-key.ts';
import { openOpfsSahPool, SqliteConnection, type OpfsOptions } from '../sqlite/index.ts';
import { installPageRtc, type WebSyncConfig } from '../sync/web/index.ts';
import { remoteError, type Ready, type Request, type Response } from './messages.ts';
import { isRtcPortMessage } from './peer-connections.ts';
import { shareDatabase } from './tabs.ts';

export interface ServeOptions<TSchema extends Record<string, unknown>> extends OpfsOptions {
  /** The app's Drizzle schema: its synced tables are captured. */
  schema?: TSchema;
  /** The app's migrations (`migrationsFromBundle`), applied on open before capture is installed. */
  migrations?: readonly MigrationMeta[];
  /** The database's name in OPFS. @default '/ahenk.db' */
  file?: string;
  /**
   * How long to keep trying to take the pool's files: a tab that just closed (or reloaded) may
   * still hold them for a moment after its lock is released. @default 20000
   */
  openTimeoutMs?: number;
  /** The sync node's settings (it starts, in the leader's worker, on a tab's first `sync` call). */
  sync?: WebSyncConfig;
}

const OPEN_RETRY_MS = 100;

/** Opens the OPFS database as initializeDatabase does on Node (call it in a dedicated worker). */
export async function openOpfsDatabase<TSchema extends Record<string, unknown>>(options: ServeOptions<TSchema> = {}): Promise<AhenkDatabase<TSchema>> {
  const deadline = Date.now() + (options.openTimeoutMs ?? 20_000);
  let driver;
  for (;;) {
    try {
      driver = await openOpfsSahPool(options.file ?? '/ahenk.db', options);
      break;
    } catch (error) {
      if (error instanceof TypeError || Date.now() >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, OPEN_RETRY_MS));
    }
  }
  const connection = new SqliteConnection(driver);
  try {
    // The device key lives in IndexedDB, not in the file (device-key.ts): found, made or moved first.
    await loadDeviceKey(connection, `${options.directory ?? '.ahenk'}:${options.file ?? '/ahenk.db'}`);
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
 * Serves the database to the page. Every tab of the origin runs this in its own worker; one of them
 * (the leader, holding a Web Lock named after the database) opens it and answers all of them
 * (tabs.ts). Posts `ready` once the database answers (or `failed`), then relays each request,
 * and posts the sync node's events to the page. A transaction the page opens (sqlite-proxy sends
 * BEGIN, its statements, COMMIT) is never interleaved with another request, from this tab or another.
 */
export function serveDatabase<TSchema extends Record<string, unknown>>(options: ServeOptions<TSchema> = {}, scope: WorkerScope = globalThis as unknown as WorkerScope): void {
  const file = options.file ?? '/ahenk.db';
  const shared = shareDatabase(`ahenk:${options.directory ?? '.ahenk'}:${file}`, () => openOpfsDatabase(options) as Promise<AhenkDatabase<Record<string, unknown>>>, {
    ...(options.sync === undefined ? {} : { sync: options.sync }),
    onSyncEvent: (message) => scope.postMessage(message),
  });
  scope.onmessage = (event) => {
    if (isRtcPortMessage(event.data)) {
      installPageRtc(event.data.port);
      return;
    }
    const request = event.data as Request;
    if (request.kind === 'close') {
      void shared.close().finally(() => {
        scope.postMessage({ id: request.id, ok: true, value: null } satisfies Response);
        scope.close();
      });
      return;
    }
    const { id, ...work } = request;
    shared.client.call(work).then(
      (value) => scope.postMessage({ id, ok: true, value } satisfies Response),
      (error: unknown) => scope.postMessage({ id, ok: false, error: remoteError(error) } satisfies Response),
    );
  };
  shared.client.call({ kind: 'device' }).then(
    (deviceId) => scope.postMessage({ kind: 'ready', deviceId: deviceId as string } satisfies Ready),
    (error: unknown) => scope.postMessage({ kind: 'failed', error: remoteError(error) } satisfies Ready),
  );
}
