/**
 * The messages between the page and the database worker (postMessage, structured clone: bigint,
 * Uint8Array and plain objects cross as they are). Each request carries an id its response echoes.
 */
import type { OplogEntry } from '../oplog/entry.ts';
import type { SqlValue } from '../sqlite/index.ts';
import type { SyncEventMessage, SyncRequest } from './sync-messages.ts';

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

/** An error the worker reported, with the name, message and code it had there. */
export class WorkerError extends Error {
  readonly code: string | undefined;
  constructor(error: RemoteError) {
    super(error.message);
    this.name = error.name;
    this.code = error.code;
  }
}

export type Response = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: RemoteError };

/** The worker's first message: the database is open (with this device's id), or opening failed. */
export type Ready = { kind: 'ready'; deviceId: string } | { kind: 'failed'; error: RemoteError };

/** A query's result in the shape sqlite-proxy expects: rows as arrays, one row for 'get'. */
export interface QueryResult {
  rows: SqlValue[][] | SqlValue[] | undefined;
}

/** A request without its id: what a tab's worker asks of the database, wherever the database is. */
export type Work = (Exclude<Request, { kind: 'close' }> extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never) | { kind: 'device' };

/** A request to the sync node, which runs in the leader's worker (sync.ts). */
export type SyncWork = Extract<Work, { kind: 'sync' }>;

/**
 * The leader's answer to one request: done (ok or failed, and whether that tab's transaction is
 * still open), or, for a request a tab sends again after the leader changed: already applied (it
 * committed before the old leader closed) or not applied (it was part of a transaction that closed
 * with the old leader, and is not run again).
 */
export type Answer =
  | { status: 'ok'; value: unknown; inTransaction: boolean }
  | { status: 'error'; error: RemoteError; inTransaction: boolean }
  | { status: 'applied' }
  | { status: 'not-applied' };

/** One request on its way to the leader: the tab's client id, its sequence number, and whether only to check it. */
export interface Forwarded {
  seq: number;
  /** The tab's oldest request still unanswered when this one was sent (all before it are answered). */
  first: number;
  work: Work;
  /** Do not run it: say whether it was applied (a resend from a transaction the old leader closed). */
  check: boolean;
}

/**
 * Between the workers of one origin's tabs, on a BroadcastChannel named after the database: a new
 * leader says so (every tab then sends again what it has no answer for), tabs send requests, the
 * leader answers the tab that asked, and passes its sync node's events to every tab.
 */
export type TabMessage =
  | { kind: 'leader' }
  | ({ kind: 'request'; client: string } & Forwarded)
  | { kind: 'answer'; client: string; seq: number; answer: Answer }
  | SyncEventMessage;

const METHODS: ReadonlySet<unknown> = new Set<QueryMethod>(['run', 'all', 'values', 'get']);

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;
const isSqlValue = (value: unknown) => value === null || ['bigint', 'number', 'string'].includes(typeof value) || value instanceof Uint8Array;
const isQuery = (value: unknown): value is Query =>
  isRecord(value) && typeof value.sql === 'string' && Array.isArray(value.params) && value.params.every(isSqlValue) && METHODS.has(value.method);

/** A request as another tab must have sent it (anything of the origin can post on the channel). */
export function isWork(value: unknown): value is Work {
  if (!isRecord(value)) return false;
  switch (value.kind) {
    case 'query':
      return isQuery(value);
    case 'batch':
      return Array.isArray(value.queries) && value.queries.every(isQuery);
    case 'export':
      return (value.since === undefined || typeof value.since === 'string') && (value.limit === undefined || Number.isSafeInteger(value.limit));
    case 'merge':
      return Array.isArray(value.entries); // each entry is validated by merge, as a peer's
    case 'device':
      return true;
    case 'sync':
      // The address is parsed by libp2p, which refuses what is not a multiaddr; bounded here.
      switch (value.op) {
        case 'dial':
          return isBoundedText(value.address, MAX_DIAL_ADDRESS_LENGTH);
        case 'join':
          // The code and device type are checked again by pairing, as any peer's input.
          return isBoundedText(value.code, MAX_PAIRING_CODE_LENGTH) && isBoundedText(value.deviceType, 256) && (value.from === undefined || isBoundedText(value.from, MAX_DIAL_ADDRESS_LENGTH)) && isBoundedText(value.pairing, 64);
        case 'confirm':
          return isBoundedText(value.pairing, 64) && typeof value.same === 'boolean';
        case 'invite':
          // The ttl is checked again by the invitation (1 ms to 10 minutes).
          return (
            isBoundedText(value.relay, MAX_DIAL_ADDRESS_LENGTH) &&
            (value.relayToken === undefined || isBoundedText(value.relayToken, 64)) &&
            isBoundedText(value.deviceType, 256) &&
            (value.ttlMs === undefined || Number.isSafeInteger(value.ttlMs))
          );
        case 'invited':
        case 'uninvite':
          return isBoundedText(value.invitation, 64);
        default:
          return value.op === 'peers' || value.op === 'syncNow' || value.op === 'stop';
      }
    default:
      return false;
  }
}

const isBoundedText = (value: unknown, max: number): value is string => typeof value === 'string' && value.length <= max;

/** A pairing code's own bound (PAIRING_LIMITS.qrChars), not imported: the page bundle stays free of libp2p. */
const MAX_PAIRING_CODE_LENGTH = 2048;

/** Far above any multiaddr a page dials (an address with /p2p/ and a relay hop is under 300). */
const MAX_DIAL_ADDRESS_LENGTH = 2048;

/** An answer as the leader must have sent it. */
export function isAnswer(value: unknown): value is Answer {
  if (!isRecord(value)) return false;
  switch (value.status) {
    case 'ok':
      return typeof value.inTransaction === 'boolean';
    case 'error':
      return typeof value.inTransaction === 'boolean' && isRecord(value.error) && typeof value.error.name === 'string' && typeof value.error.message === 'string';
    case 'applied':
    case 'not-applied':
      return true;
    default:
      return false;
  }
}

export function remoteError(error: unknown): RemoteError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { name: error.name, message: error.message, ...(typeof code === 'string' ? { code } : {}) };
  }
  return { name: 'Error', message: String(error) };
}
