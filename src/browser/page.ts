/**
 * The page side of the browser build: Drizzle in the page (its sqlite-proxy driver), every query
 * sent to the database worker (worker.ts), and Ahenk's export and merge as calls to it. The page
 * bundle holds no SQLite and no core: only Drizzle and this file.
 */
import { drizzle, type SqliteRemoteDatabase } from 'drizzle-orm/sqlite-proxy';
import type { MergeResult } from '../merge/merge.ts';
import type { OplogEntry } from '../oplog/entry.ts';
import type { OplogExport } from '../oplog/export.ts';
import type { SqlValue } from '../sqlite/index.ts';
import { WorkerError, type Query, type QueryMethod, type QueryResult, type Ready, type RemoteError, type Request, type Response } from './messages.ts';
import { browserPairing, type BrowserPairing } from './page-pairing.ts';
import { browserSync, type BrowserSync } from './page-sync.ts';
import { offerPeerConnections } from './peer-connections.ts';
import type { SyncEventMessage } from './sync-messages.ts';

export { WorkerError };

/** The page's handle on the worker's database. */
export interface BrowserDatabase<TSchema extends Record<string, unknown>> {
  /** Drizzle over the worker: `await db.insert(todos).values(...)` as on Node, but asynchronous. */
  readonly db: SqliteRemoteDatabase<TSchema>;
  /** This device's id (its libp2p PeerId), which stamps its writes. */
  readonly deviceId: string;
  /** getOplogEntriesSince in the worker. */
  getOplogEntriesSince(since?: string, options?: { limit?: number }): Promise<OplogExport>;
  /** merge in the worker (one transaction); clock errors come back as name and message. */
  merge(entries: readonly OplogEntry[]): Promise<Omit<MergeResult, 'errors'> & { errors: RemoteError[] }>;
  /** The worker's sync node: `await db.sync.dial('/ip4/…/tcp/…/ws/p2p/…')` (page-sync.ts). */
  readonly sync: BrowserSync;
  /** Pairing (page-pairing.ts): join with a code another device shows (`db.pairing.join(code)`), or show an invitation a listed device accepts (`db.pairing.invite({ relay })`). */
  readonly pairing: BrowserPairing;
  /** Closes the database (after ending the sync node) and ends the worker. */
  close(): Promise<void>;
}

/** The parts of a DOM Worker this file uses (the Node type check has no DOM library). */
interface Port {
  postMessage(message: unknown, transfer?: unknown[]): void;
  addEventListener(type: 'message' | 'error', listener: (event: { data?: unknown; message?: string }) => void): void;
}

/** A request before it gets its id (each member of the union on its own). */
type Outgoing = Request extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;

/**
 * Waits for the worker (which called `serveDatabase`) to open its database, and returns Drizzle
 * over it. `options.schema` is the same schema the worker has, for Drizzle's relational queries.
 */
export async function openBrowserDatabase<TSchema extends Record<string, unknown> = Record<string, never>>(
  worker: Port,
  options: { schema?: TSchema; signal?: AbortSignal } = {},
): Promise<BrowserDatabase<TSchema>> {
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let nextId = 1;
  let deliver: ((message: SyncEventMessage) => void) | undefined;
  const ready = new Promise<string>((resolve, reject) => {
    const onAbort = () => reject(options.signal?.reason ?? new Error('aborted'));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    worker.addEventListener('message', (event) => {
      const message = event.data as Ready | Response | SyncEventMessage;
      if ('kind' in message && message.kind === 'sync-event') {
        deliver?.(message);
        return;
      }
      if ('kind' in message) {
        options.signal?.removeEventListener('abort', onAbort);
        if (message.kind === 'ready') resolve(message.deviceId);
        else reject(new WorkerError(message.error));
        return;
      }
      const waiter = pending.get(message.id);
      if (waiter === undefined) return;
      pending.delete(message.id);
      if (message.ok) waiter.resolve(message.value);
      else waiter.reject(new WorkerError(message.error));
    });
    worker.addEventListener('error', (event) => reject(new Error(`the database worker failed to start: ${event.message ?? 'unknown error'}`)));
  });
  // The worker has no RTCPeerConnection: this page holds its peer connections (WebRTC between browsers).
  const closePeerConnections = offerPeerConnections({ postMessage: (message, transfer) => worker.postMessage(message, transfer) });
  const call = <T>(request: Outgoing): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      worker.postMessage({ ...request, id });
    });
  const deviceId = await ready;
  const synced = browserSync(call);
  const paired = browserPairing(call);
  deliver = (message) => (message.name === 'pairing:confirm' ? paired.deliver(message) : synced.deliver(message));
  const query = (sql: string, params: unknown[], method: QueryMethod) => call<QueryResult>({ kind: 'query', sql, params: params as SqlValue[], method });
  const batch = async (queries: { sql: string; params: unknown[]; method: QueryMethod }[]) =>
    call<QueryResult[]>({ kind: 'batch', queries: queries.map((q) => ({ sql: q.sql, params: q.params as SqlValue[], method: q.method })) satisfies Query[] });
  const db = drizzle<TSchema>(query as never, batch as never, options.schema === undefined ? {} : { schema: options.schema });
  return {
    db,
    deviceId,
    getOplogEntriesSince: (since, opts = {}) => call({ kind: 'export', ...(since === undefined ? {} : { since }), ...(opts.limit === undefined ? {} : { limit: opts.limit }) }),
    merge: (entries) => call({ kind: 'merge', entries: [...entries] }),
    sync: synced.sync,
    pairing: paired.pairing,
    close: async () => {
      await call({ kind: 'close' });
      closePeerConnections?.();
    },
  };
}
