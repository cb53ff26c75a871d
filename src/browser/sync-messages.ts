/**
 * The sync node's messages between a page and the leader's worker, which runs the node: requests
 * (sent to the leader as the page's queries are, answered when the node has done them) and the
 * node's events, posted to every tab as they happen.
 */
import type { SyncCompleteEvent, SyncNodeEvents } from '../sync/node/events.ts';
import type { WebConnectedPeer } from '../sync/web/index.ts';
import type { PairingResult } from '../sync/pairing/new-device.ts';

export type SyncRequest =
  | { id: number; kind: 'sync'; op: 'dial'; address: string }
  | { id: number; kind: 'sync'; op: 'peers' }
  | { id: number; kind: 'sync'; op: 'syncNow' }
  | { id: number; kind: 'sync'; op: 'stop' }
  // Pairing (pairing.ts): a join, and the page's answer to the confirmation code of a short code.
  | { id: number; kind: 'sync'; op: 'join'; code: string; deviceType: string; from?: string; pairing: string }
  | { id: number; kind: 'sync'; op: 'confirm'; pairing: string; same: boolean }
  // An invitation the page shows (invitation.ts): made, waited on, cancelled.
  | { id: number; kind: 'sync'; op: 'invite'; relay: string; relayToken?: string; deviceType: string; ttlMs?: number }
  | { id: number; kind: 'sync'; op: 'invited'; invitation: string }
  | { id: number; kind: 'sync'; op: 'uninvite'; invitation: string };

/** What each request answers with. */
export interface SyncAnswers {
  dial: string;
  peers: WebConnectedPeer[];
  syncNow: SyncCompleteEvent[];
  stop: null;
  join: BrowserPairingResult;
  confirm: null;
  invite: BrowserInvitationShown;
  invited: PairingResult;
  uninvite: null;
}

/** An invitation as the worker made it, for the page to show. */
export interface BrowserInvitationShown {
  /** The worker's id of this invitation. */
  invitation: string;
  /** The text of the QR code (ahenk-invite:1:…); `ahenk accept <code>` takes it as well. */
  code: string;
  /** The QR code as an SVG document (black on white, a quiet zone of two modules). */
  svg: string;
  /** Unix ms after which the invitation is refused. */
  expiresAt: number;
  /** Where the accepting device reaches the page: its circuit addresses through the relay. */
  addresses: string[];
}

/** The events the page hears: the web node's, with an error as name and message. */
export type BrowserSyncEvents = Omit<Pick<SyncNodeEvents, SyncEventName>, 'error'> & {
  /** As messages.ts's RemoteError: the error's name, message and code. */
  error: { error: { name: string; message: string; code?: string }; peerId?: string };
};

export const SYNC_EVENT_NAMES = ['peer:connect', 'peer:disconnect', 'sync:start', 'sync:progress', 'sync:complete', 'clock:drift', 'error'] as const;
export type SyncEventName = (typeof SYNC_EVENT_NAMES)[number];

/** What `db.pairing.join` resolves with: the pairing, and the address the page now syncs over. */
export interface BrowserPairingResult extends PairingResult {
  /** The authorizer's WebSocket address the pairing went through; dialled, and dialled again after a disconnect. */
  address: string;
}

/** A short code's confirmation code, for the page whose join (`pairing`) it is to show it and answer. */
export interface PairingConfirmEvent {
  kind: 'sync-event';
  name: 'pairing:confirm';
  event: { pairing: string; confirmation: string };
}

/** Every event name the leader's worker posts to the tabs. */
export const WORKER_EVENT_NAMES: readonly string[] = [...SYNC_EVENT_NAMES, 'pairing:confirm'];

/** An event of the worker's sync node (or of a pairing it runs), posted to the page. */
export type SyncEventMessage =
  | {
      kind: 'sync-event';
      name: SyncEventName;
      event: unknown;
    }
  | PairingConfirmEvent;
