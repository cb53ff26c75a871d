/**
 * The page's handle on pairing (`db.pairing`): joining the user's devices with a code another
 * device shows, run by the leader's worker on its sync node (pairing.ts). A page cannot listen,
 * so it joins and does not show codes (docs/decisions.md, "Pairing in the page").
 */
import type { SyncWork } from './messages.ts';
import type { BrowserPairingResult } from './sync-messages.ts';
import type { PairingConfirmEvent } from './sync-messages.ts';

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

export interface BrowserPairing {
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
