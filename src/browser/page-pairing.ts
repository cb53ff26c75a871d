/**
 * The page's handle on pairing (`db.pairing`): joining the user's devices with a code another
 * device shows (pairing.ts), or showing an invitation that a device already on the list accepts
 * (invitation.ts), both run by the leader's worker on its sync node. A page cannot listen: it is
 * reached for an invitation through a relay (docs/decisions.md, "Pairing in the page").
 */
import type { SyncWork } from './messages.ts';
import type { BrowserInvitationShown, BrowserPairingResult, PairingConfirmEvent } from './sync-messages.ts';
import type { PairingResult } from '../sync/pairing/new-device.ts';

export interface BrowserJoinOptions {
  /** How this page appears on the device list. @default 'browser' */
  deviceType?: string;
  /** With a short code: the /ws address printed next to it (`/ip4/…/tcp/…/ws/p2p/12D3KooW…`). */
  from?: string;
  /**
   * With a short code: show the confirmation code and resolve true when the other device's screen
   * shows the same (a "no", or no answer, ends the pairing as REFUSED). Required with a short code.
   */
  confirm?: (confirmation: string) => boolean | Promise<boolean>;
}

export interface BrowserInviteOptions {
  /** A relay's WebSocket multiaddr (`/ip4/…/tcp/…/ws/p2p/12D3KooW…`) that admits this page: the accepting device reaches the page through it. */
  relay: string;
  /**
   * The relay's join token (`ahenk relay token`), for a page the relay does not admit yet: the
   * page presents it once and is admitted by its device id. Not needed once admitted.
   */
  relayToken?: string;
  /** How this page appears on the device list. @default 'browser' */
  deviceType?: string;
  /** How long the invitation stays valid, in ms. @default 120000 (at most 600000) */
  ttlMs?: number;
}

/** An invitation the page shows; a device on the list accepts it with `ahenk accept <code>`. */
export interface BrowserInvitation {
  /** The QR code's text (ahenk-invite:1:…), to show under the QR code for copying. */
  code: string;
  /** The QR code as an SVG document, to put in the page (e.g. as an <img> data URL or innerHTML). */
  svg: string;
  expiresAt: number;
  addresses: string[];
  /**
   * Resolves once a device on the list accepted the invitation and this page is on the list on
   * both sides (sync with that device has started); rejects with a WorkerError whose `code` is
   * EXPIRED, CANCELLED (cancelled or replaced by a newer invitation), BAD_PROOF, PROTOCOL,
   * REFUSED or ACCOUNT_CONFLICT.
   */
  accepted: Promise<PairingResult>;
  /** Stops showing it: `accepted` rejects with CANCELLED. */
  cancel(): Promise<void>;
}

export interface BrowserPairing {
  /**
   * Shows an invitation for a device already on the list: the page reserves a slot on `relay`
   * and makes a signed, single-use, expiring code carrying its circuit address there, drawn as a
   * QR code. One invitation at a time: a new one cancels the last. Rejects with REFUSED when this
   * database already holds an account (it is on a list: pair from a device of it), UNREACHABLE when
   * the relay cannot be reached or grants no reservation, INVALID_QR for a relay that is not a
   * /ws multiaddr with its /p2p id (or a malformed join token), RelayAdmissionError when the
   * relay refuses the join token.
   */
  invite(options: BrowserInviteOptions): Promise<BrowserInvitation>;

  /**
   * Joins the user's devices with the code `ahenk pair` (or an AuthorizerWorkflow) shows: the
   * long code (`ahenk-pair:1:…`, it carries the device's addresses: one must be /ws), or the short
   * code (ABCDE-FGHJK) with `from` and `confirm`. Resolves once this page is on the device list
   * on both sides; sync with that device has started (over `address`, dialled again after a
   * disconnect). Rejects with a WorkerError whose `code` is the PairingError's: INVALID_QR,
   * BAD_SIGNATURE, EXPIRED, UNKNOWN_CHALLENGE (used or no longer shown), UNREACHABLE, BAD_CODE,
   * TOO_MANY_ATTEMPTS, BAD_PROOF, REFUSED, ACCOUNT_CONFLICT, PROTOCOL.
   */
  join(code: string, options?: BrowserJoinOptions): Promise<BrowserPairingResult>;
}

/** The page side of pairing; `deliver` takes the worker's confirmation events. */
export function browserPairing(call: <T>(request: SyncWork) => Promise<T>): { pairing: BrowserPairing; deliver: (message: PairingConfirmEvent) => void } {
  const asking = new Map<string, (confirmation: string) => void>();
  const pairing: BrowserPairing = {
    async invite(options) {
      const shown = await call<BrowserInvitationShown>({
        kind: 'sync',
        op: 'invite',
        relay: options.relay,
        ...(options.relayToken === undefined ? {} : { relayToken: options.relayToken }),
        deviceType: options.deviceType ?? 'browser',
        ...(options.ttlMs === undefined ? {} : { ttlMs: options.ttlMs }),
      });
      const accepted = call<PairingResult>({ kind: 'sync', op: 'invited', invitation: shown.invitation });
      accepted.catch(() => {});
      const { invitation, ...rest } = shown;
      return {
        ...rest,
        accepted,
        cancel: async () => {
          await call({ kind: 'sync', op: 'uninvite', invitation });
        },
      };
    },
    async join(code, options = {}) {
      const id = crypto.randomUUID();
      const { confirm } = options;
      if (confirm !== undefined) {
        asking.set(id, (confirmation) => {
          Promise.resolve()
            .then(() => confirm(confirmation))
            .then(
              (same) => same === true,
              () => false,
            )
            .then((same) => call({ kind: 'sync', op: 'confirm', pairing: id, same }))
            // The join itself reports the outcome (no answer is a no, after its timeout).
            .catch(() => {});
        });
      }
      try {
        return await call<BrowserPairingResult>({
          kind: 'sync',
          op: 'join',
          code,
          deviceType: options.deviceType ?? 'browser',
          pairing: id,
          ...(options.from === undefined ? {} : { from: options.from }),
        });
      } finally {
        asking.delete(id);
      }
    },
  };
  const deliver = (message: PairingConfirmEvent): void => {
    const { pairing: id, confirmation } = message.event;
    // Every tab hears it; the tab that started this join answers, and a join without `confirm` says no.
    const ask = asking.get(id);
    asking.delete(id);
    ask?.(confirmation);
  };
  return { pairing, deliver };
}
