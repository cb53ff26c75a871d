/**
 * The messages between the page and the database worker (postMessage, structured clone: bigint,
 * Uint8Array and plain objects cross as they are). Each request carries an id its response echoes.
 */
import type { OplogEntry } from '../oplog/entry.ts';
import type { SqlValue } from '../sqlite/index.ts';
import type { SyncRequest } from './sync-messages.ts';

/** What Drizzle's sqlite-proxy driver asks for: a run, every row, the rows as arrays, or the first row. */
export type QueryMethod = 'run' | 'all' | 'values' | 'get';

export interface Query {
  sql: string;
  params: SqlValue[];
  method: QueryMethod;
}

export type Request =
  | ({ id: number; kind: 'query' } & Query)
  | { id: number; kind: 'batch'; queries: Query[] }
  | { id: number; kind: 'export'; since?: string; limit?: number }
  | { id: number; kind: 'merge'; entries: OplogEntry[] }
  | { id: number; kind: 'close' }
  | SyncRequest;

/** What a failed request reports: the error's name, message and code, as the worker saw them. */
export interface RemoteError {
  name: string;
  message: string;
  code?: string;
}

export type Response = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: RemoteError };

/** The worker's first message: the database is open (with this device's id), or opening failed. */
export type Ready = { kind: 'ready'; deviceId: string } | { kind: 'failed'; error: RemoteError };

/** A query's result in the shape sqlite-proxy expects: rows as arrays, one row for 'get'. */
export interface QueryResult {
  rows: SqlValue[][] | SqlValue[] | undefined;
}

export function remoteError(error: unknown): RemoteError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { name: error.name, message: error.message, ...(typeof code === 'string' ? { code } : {}) };
  }
  return { name: 'Error', message: String(error) };
}
