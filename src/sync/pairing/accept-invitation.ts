/**
 * acceptInvitation: on a device already on the user's list, accepts the invitation another device
 * shows (InviteeWorkflow, a web page's QR code): checks its signature and expiry before anything is
 * dialled, dials only the invitee's peer id (Noise proves the key), presents the nonce signed with
 * this device's key, checks the invitee's proof of its own key, and then runs the authorizer's half
 * of /ahenk/pair: the account and list go out, the invitee confirms, it is listed, done.
 */
import { multiaddr } from '@multiformats/multiaddr';
import { commitPairing, planPairing } from '../../auth/pairing/accept.ts';
import { requireUser } from '../../auth/accounts.ts';
import { PairingError } from '../../auth/pairing/errors.ts';
import { decodePairingInvitation, offerBytes, verifyPairingInvitation } from '../../auth/pairing/invitation.ts';
import { decodeInvitedConfirm, decodeInvitedRequest, encodePairingMessage, MAX_PAIRING_FRAME_BYTES, PAIRING_VERSION } from '../../auth/pairing/messages.ts';
import { readIdentity } from '../../database/identity.ts';
import { base64, connectionOf, type DatabaseHandle } from '../../sqlite/index.ts';
import { DIAL_TIMEOUT_MS } from '../node/constants.ts';
import { withPeer } from '../node/dialer.ts';
import { rememberPeer, validPeerAddresses } from '../node/peer-store.ts';
import type { PairedDevice } from './authorizer.ts';
import { pairingChannel, type PairingNode } from './channel.ts';
import { PAIR_INVITE_PROTOCOL } from './invitee.ts';

/** The invited device sends a request and a confirm, a few hundred bytes each. */
const MAX_INVITED_FRAME_BYTES = 4 * 1024;

export interface AcceptInvitationOptions {
  /** The account the invited device joins; it must exist in this database. */
  userId: string;
  /** How this device lists itself if it is not on the device list yet. @default 'device' */
  deviceType?: string;
  /** Wall clock in Unix ms. @default Date.now */
  now?: () => number;
  signal?: AbortSignal;
}

/**
 * Accepts the invitation `code` (ahenk-invite:1:…). Resolves with the device once it is on the
 * list on both sides; sync with it then starts. Throws PairingError: INVALID_QR, BAD_SIGNATURE,
 * EXPIRED, UNKNOWN_CHALLENGE (used, no longer shown, or never shown by that device), UNREACHABLE,
 * BAD_PROOF, REFUSED, PROTOCOL, CANCELLED.
 */
export async function acceptInvitation(db: DatabaseHandle, node: PairingNode, code: string, options: AcceptInvitationOptions): Promise<PairedDevice> {
  const now = options.now ?? Date.now;
  const invitation = decodePairingInvitation(code);
  await verifyPairingInvitation(invitation, now());
  const self = node.peerId;
  if (invitation.invitee === self) throw new PairingError('REFUSED', 'this invitation was made by this device; accept it on another one');
  requireUser(db, options.userId);
  const identity = readIdentity(connectionOf(db));
  if (identity === undefined) throw new PairingError('CANCELLED', 'this database has no device identity');
  let targets: ReturnType<typeof multiaddr>[];
  try {
    // Pinned to the invitee's id: only its key can answer.
    targets = invitation.addresses.map((address) => multiaddr(withPeer(address, invitation.invitee)));
  } catch (error) {
    throw new PairingError('INVALID_QR', `an address in the invitation is not a multiaddr: ${(error as Error).message}`);
  }
  const signal = AbortSignal.any([AbortSignal.timeout(DIAL_TIMEOUT_MS), node.stopSignal, ...(options.signal ? [options.signal] : [])]);
  const stream = await node.libp2p.dialProtocol(targets, PAIR_INVITE_PROTOCOL, { signal, runOnLimitedConnection: true }).catch((error: unknown) => {
    if (error instanceof Error && error.name === 'UnsupportedProtocolError') {
      throw new PairingError('UNKNOWN_CHALLENGE', 'the invited device is not showing this invitation any more (used, expired or closed)', { cause: error });
    }
    if (options.signal?.aborted) throw new PairingError('CANCELLED', 'pairing was cancelled', { cause: error });
    throw new PairingError('UNREACHABLE', `could not reach the device that showed the invitation: ${(error as Error).message}`, { cause: error });
  });
  const channel = pairingChannel(stream, MAX_INVITED_FRAME_BYTES);
  let committed: { peerId: string; deviceType: string } | undefined;
  let heard = false;
  try {
    const proof = base64(await identity.privateKey.sign(offerBytes(invitation.invitee, self, invitation.nonce)), { url: true });
    await channel.send(encodePairingMessage({ type: 'offer', version: PAIRING_VERSION, nonce: invitation.nonce, proof }));
    const request = decodeInvitedRequest(await channel.next(options.signal));
    heard = true;
    // The stream's peer is the invitee (the dial was pinned); planPairing checks the nonce, the
    // expiry and the invitee's signature of (this device, invitee, nonce) with that key.
    const challenge = { authorizer: self, addresses: invitation.addresses, nonce: invitation.nonce, expiresAt: invitation.expiresAt, signature: invitation.signature };
    const plan = await planPairing(db, { challenge, used: false, request, remotePeerId: invitation.invitee, userId: options.userId, selfDeviceType: options.deviceType ?? 'device', now: now() });
    const accept = encodePairingMessage(plan.accept);
    if (accept.byteLength > MAX_PAIRING_FRAME_BYTES) throw new PairingError('REFUSED', `the account and device list take ${accept.byteLength} bytes, over the ${MAX_PAIRING_FRAME_BYTES}-byte pairing limit`);
    await channel.send(accept);
    decodeInvitedConfirm(await channel.next(options.signal));
    commitPairing(db, plan);
    committed = plan.device;
    await channel.send(encodePairingMessage({ type: 'done', version: PAIRING_VERSION }));
    await channel.close().catch(() => {});
  } catch (error) {
    // Once listed, the device is paired: a lost "done" is the invitee's problem to report.
    if (committed !== undefined) channel.abort(error instanceof Error ? error : new Error(String(error)));
    else {
      const failure = error instanceof PairingError ? error : new PairingError('PROTOCOL', (error as Error).message, { cause: error });
      // A refusal of what the invitee sent is told to it; its own reject or a broken stream is not answered.
      if (heard && !failure.message.startsWith('the invited device refused')) {
        await channel.send(encodePairingMessage({ type: 'reject', version: PAIRING_VERSION, code: failure.code, message: failure.message })).catch(() => {});
        await channel.close().catch(() => channel.abort(failure));
      } else channel.abort(failure);
      throw failure;
    }
  }
  // Its addresses are where it is reached again (a page: its relay circuit), until it dials this device itself.
  rememberPeer(connectionOf(db), invitation.invitee, validPeerAddresses(invitation.invitee, invitation.addresses));
  void node.syncNow().catch(() => {});
  return { ...committed!, userId: options.userId };
}
