/**
 * The sync node's messages between a page and the leader's worker, which runs the node: requests
 * (sent to the leader as the page's queries are, answered when the node has done them) and the
 * node's events, posted to every tab as they happen.
 */
import type { SyncCompleteEvent, SyncNodeEvents } from '../sync/node/events.ts';
import type { WebConnectedPeer } from '../sync/web/index.ts';

export type SyncRequest =
  | { id: number; kind: 'sync'; op: 'dial'; address: string }
  | { id: number; kind: 'sync'; op: 'peers' }
  | { id: number; kind: 'sync'; op: 'syncNow' }
  | { id: number; kind: 'sync'; op: 'stop' };

/** What each request answers with. */
export interface SyncAnswers {
  dial: string;
  peers: WebConnectedPeer[];
  syncNow: SyncCompleteEvent[];
  stop: null;
}

/** The events the page hears: the web node's, with an error as name and message. */
export type BrowserSyncEvents = Omit<Pick<SyncNodeEvents, SyncEventName>, 'error'> & {
  /** As messages.ts's RemoteError: the error's name, message and code. */
  error: { error: { name: string; message: string; code?: string }; peerId?: string };
};

export const SYNC_EVENT_NAMES = ['peer:connect', 'peer:disconnect', 'sync:start', 'sync:progress', 'sync:complete', 'clock:drift', 'error'] as const;
export type SyncEventName = (typeof SYNC_EVENT_NAMES)[number];

/** An event of the worker's sync node, posted to the page. */
export interface SyncEventMessage {
  kind: 'sync-event';
  name: SyncEventName;
  event: unknown;
}
