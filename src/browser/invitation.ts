/**
 * A page that is not on the list yet shows an invitation (its QR code) for a device already on the
 * list to accept (`ahenk accept`, acceptInvitation): run in the leader's worker on its web sync
 * node. A page cannot listen, so it is reached through a relay: it dials the relay's /ws address,
 * holds a reservation there (the web node asks every relay it dials for one), and the invitation
 * carries its circuit address `<relay>/p2p-circuit/p2p/<page>`. While the invitation is shown, the
 * node lets a device not on the list connect in (a few at once); the pairing itself is
 * InviteeWorkflow's (src/sync/pairing/invitee.ts).
 */
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { PAIRING_LIMITS } from '../auth/pairing/signed-code.ts';
import { PairingError } from '../auth/pairing/errors.ts';
import type { AhenkDatabase } from '../database/initialize.ts';
import { normalizeDeviceType } from '../auth/validate.ts';
import { DIAL_TIMEOUT_MS } from '../sync/node/constants.ts';
import { InviteeWorkflow } from '../sync/pairing/invitee.ts';
import { presentJoinToken } from '../sync/relay/admit-protocol.ts';
import { RELAY_ADMIT_PROTOCOL } from '../sync/relay/constants.ts';
import type { PairingResult } from '../sync/pairing/new-device.ts';
import type { WebSyncNode } from '../sync/web/index.ts';
import type { BrowserInvitationShown } from './sync-messages.ts';

/** How long the page waits for its relay to grant the reservation its circuit address needs. */
const RESERVATION_TIMEOUT_MS = 15_000;

export interface InviteRequest {
  /** The relay's WebSocket multiaddr, ending in /p2p/<relay id>. */
  relay: string;
  /** The relay's join token, for a page the relay does not admit yet. */
  relayToken?: string;
  deviceType: string;
  ttlMs?: number;
}

/**
 * The worker's one invitation (a node has one /ahenk/pair-invite handler): a new one replaces it.
 * Kept once settled, until replaced, so that its outcome can still be asked for.
 */
export class WorkerInvitation {
  #current: { id: string; workflow: InviteeWorkflow } | undefined;
  /** Invitations are made one after the other (two tabs asking at once). */
  #making: Promise<unknown> = Promise.resolve();

  invite(db: AhenkDatabase<Record<string, unknown>>, node: WebSyncNode, request: InviteRequest): Promise<BrowserInvitationShown> {
    const made = this.#making.then(() => this.#invite(db, node, request));
    this.#making = made.catch(() => {});
    return made;
  }

  async #invite(db: AhenkDatabase<Record<string, unknown>>, node: WebSyncNode, request: InviteRequest): Promise<BrowserInvitationShown> {
    await this.cancel();
    // The device type and the relay are checked before anything is dialled.
    const deviceType = normalizeDeviceType(request.deviceType);
    const relayId = relayPeerId(request.relay);
    await node.dial(request.relay).catch((error: unknown) => {
      throw new PairingError('UNREACHABLE', `could not reach the relay ${request.relay}: ${(error as Error).message}`, { cause: error });
    });
    if (request.relayToken !== undefined) await joinRelay(node, request.relay, relayId, request.relayToken);
    const addresses = await circuitAddresses(node, relayId);
    const invitee = new InviteeWorkflow(db, node, { deviceType, addresses, ...(request.ttlMs === undefined ? {} : { ttlMs: request.ttlMs }) });
    // Strangers are let in for a few seconds each; the one that claimed the nonce stays while it pairs.
    const admitted = node.admitStrangers((peerId) => invitee.claimedBy === peerId);
    const id = crypto.randomUUID();
    this.#current = { id, workflow: invitee };
    // Accepted, expired, failed or closed: devices not on the list are refused again.
    void invitee
      .waitForAuthorizer()
      .catch(() => undefined)
      .finally(admitted);
    try {
      const invitation = await invitee.createInvitation();
      const code = invitee.getQrCodeString();
      // Loaded on first use: qrcode's browser build renders SVG (no canvas, no DOM), in the worker.
      const { default: QRCode } = await import('qrcode');
      const svg = await QRCode.toString(code, { type: 'svg', errorCorrectionLevel: 'L', margin: 2 });
      return { invitation: id, code, svg, expiresAt: invitation.expiresAt, addresses };
    } catch (error) {
      await invitee.close();
      throw error;
    }
  }

  /** Resolves once `id` was accepted; PairingError EXPIRED, CANCELLED (replaced or cancelled), or what the pairing failed with. */
  async accepted(id: string): Promise<PairingResult> {
    const current = this.#current;
    if (current === undefined || current.id !== id) throw new PairingError('CANCELLED', 'this invitation was replaced by a newer one, or never made here');
    return current.workflow.waitForAuthorizer();
  }

  async cancel(id?: string): Promise<null> {
    const current = this.#current;
    if (current !== undefined && (id === undefined || current.id === id)) await current.workflow.close();
    return null;
  }
}

/**
 * Presents the relay's join token on the page's connection to it (/ahenk/relay-admit/1.0.0), then
 * connects again: the reservation asked for before the page was admitted was refused, and the web
 * node asks for one on each new connection to a relay. RelayAdmissionError when the relay refuses.
 */
async function joinRelay(node: WebSyncNode, relay: string, relayId: string, token: string): Promise<void> {
  const shaped = token.trim().toLowerCase();
  if (!/^[a-z2-7]{32}$/.test(shaped)) throw new PairingError('INVALID_QR', 'a relay join token is 32 characters, a-z and 2-7');
  const relayPeer = peerIdFromString(relayId);
  const stream = await node.libp2p.dialProtocol(relayPeer, RELAY_ADMIT_PROTOCOL, { signal: AbortSignal.any([AbortSignal.timeout(DIAL_TIMEOUT_MS), node.stopSignal]) }).catch((error: unknown) => {
    throw new PairingError('UNREACHABLE', `the relay did not take a join token: ${(error as Error).message}`, { cause: error });
  });
  await presentJoinToken(stream, shaped);
  await node.libp2p.hangUp(relayPeer);
  await node.dial(relay);
}

function relayPeerId(relay: string): string {
  let peerId: string | undefined;
  try {
    peerId = multiaddr(relay).getComponents().findLast((c) => c.name === 'p2p')?.value;
  } catch (error) {
    throw new PairingError('INVALID_QR', `the relay is not a multiaddr: ${(error as Error).message}`);
  }
  if (peerId === undefined || !/\/(ws|wss|tls\/ws)\//.test(relay)) throw new PairingError('INVALID_QR', 'the relay must be a WebSocket multiaddr ending in /p2p/<relay id>');
  return peerId;
}

/** This page's circuit addresses through `relayId` (not its /webrtc ones: a Node device dials the circuit), once the relay granted the reservation. */
async function circuitAddresses(node: WebSyncNode, relayId: string): Promise<string[]> {
  const deadline = Date.now() + RESERVATION_TIMEOUT_MS;
  for (;;) {
    const addresses = node.libp2p
      .getMultiaddrs()
      .map(String)
      .filter((a) => a.includes(`/p2p/${relayId}/p2p-circuit/`) && !a.includes('/webrtc') && a.length <= PAIRING_LIMITS.addressChars)
      .slice(0, PAIRING_LIMITS.addresses);
    if (addresses.length > 0) return addresses;
    if (Date.now() > deadline || node.stopSignal.aborted) {
      throw new PairingError('UNREACHABLE', `the relay ${relayId} gave this page no reservation within ${RESERVATION_TIMEOUT_MS / 1000} s (is the page admitted there, and does this browser lend the worker WebRTC?)`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
