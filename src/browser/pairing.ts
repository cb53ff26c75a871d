/**
 * Pairing a page with the user's other devices, in the leader's worker, on its web sync node:
 * the page joins with a code another device shows (`ahenk pair`, AuthorizerWorkflow), the long
 * code as it is or the short code with the /ws address printed next to it, by the same
 * /ahenk/pair and /ahenk/pair-short protocols as `ahenk join`. The confirmation code of a short
 * code is shown by the page that asked (an event to every tab, carrying that join's id) and its
 * answer comes back as a request.
 */
import { decodePairingQr } from '../auth/pairing/challenge.ts';
import { PairingError } from '../auth/pairing/errors.ts';
import { normalizeShortCode } from '../auth/pairing/short-code.ts';
import type { AhenkDatabase } from '../database/initialize.ts';
import { PAIR_CONFIRM_TIMEOUT_MS } from '../sync/pairing/channel.ts';
import { NewDeviceWorkflow } from '../sync/pairing/new-device.ts';
import { exchangeShortCode } from '../sync/pairing/short-code.ts';
import type { WebSyncNode } from '../sync/web/index.ts';
import type { BrowserPairingResult, PairingConfirmEvent } from './sync-messages.ts';

export interface JoinRequest {
  /** The long code (ahenk-pair:1:…) or a short code (ABCDE-FGHJK, with `from`). */
  code: string;
  deviceType: string;
  /** With a short code: the authorizer's /ws multiaddr. */
  from?: string;
  /** The page's id for this join, echoed in its confirmation event. */
  pairing: string;
}

/** A WebSocket multiaddr (the only transport a page has). */
const isWebSocket = (address: string) => /\/(ws|wss|tls\/ws)(\/|$)/.test(address);

export class WorkerPairing {
  readonly #asking = new Map<string, (same: boolean) => void>();

  constructor(private readonly post: (event: PairingConfirmEvent) => void) {}

  /** Runs one join on `node`; PairingError on failure (codes as `ahenk join`'s). */
  async join(db: AhenkDatabase<Record<string, unknown>>, node: WebSyncNode, request: JoinRequest): Promise<BrowserPairingResult> {
    // The device type is checked before anything is dialled.
    const workflow = new NewDeviceWorkflow(db, node, { deviceType: request.deviceType });
    let code = request.code.trim();
    if (!code.startsWith('ahenk-pair:')) {
      if (normalizeShortCode(code) === undefined) throw new PairingError('INVALID_QR', 'not a pairing code: paste the long code (ahenk-pair:1:…) or type the short code (ABCDE-FGHJK) with the address shown next to it');
      if (request.from === undefined) throw new PairingError('INVALID_QR', 'a short code needs the /ws address of the device that shows it (from)');
      if (!isWebSocket(request.from)) throw new PairingError('UNREACHABLE', `a page reaches devices over WebSockets only: ${request.from} is not a /ws address`);
      const ask = (confirmation: string) => this.#ask(request.pairing, confirmation, node.stopSignal);
      code = (await exchangeShortCode(node, request.from, code, workflow.deviceType, ask)).pairingCode;
    }
    const challenge = decodePairingQr(code);
    if (!challenge.addresses.some(isWebSocket)) {
      throw new PairingError('UNREACHABLE', 'the pairing code holds no WebSocket (/ws) address, and a page can dial no other: start the device with a /ws listen address (ahenk pair --listen /ip4/0.0.0.0/tcp/0/ws)');
    }
    const result = await workflow.respondToChallenge(code);
    // Dialled through the web node too, so that it dials that address again after a disconnect.
    const used = node.peers().find((p) => p.peerId === result.authorizer)?.addresses.find(isWebSocket);
    const address = used === undefined ? challenge.addresses.find(isWebSocket)! : withPeerId(used, result.authorizer);
    await node.dial(address);
    return { ...result, address };
  }

  /** The page's answer to a confirmation code it was shown. */
  answer(pairing: string, same: boolean): null {
    this.#asking.get(pairing)?.(same);
    this.#asking.delete(pairing);
    return null;
  }

  /** Asks the page that started `pairing` whether the other screen shows `confirmation`; "no" when nobody answers in time. */
  #ask(pairing: string, confirmation: string, stopped: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      const signal = AbortSignal.any([stopped, AbortSignal.timeout(PAIR_CONFIRM_TIMEOUT_MS)]);
      const done = (same: boolean) => {
        signal.removeEventListener('abort', no);
        this.#asking.delete(pairing);
        resolve(same);
      };
      const no = () => done(false);
      signal.addEventListener('abort', no, { once: true });
      this.#asking.set(pairing, done);
      this.post({ kind: 'sync-event', name: 'pairing:confirm', event: { pairing, confirmation } });
    });
  }
}

function withPeerId(address: string, peerId: string): string {
  return address.includes('/p2p/') ? address : `${address}/p2p/${peerId}`;
}
