/**
 * InviteeWorkflow: a device that is not on the user's list yet and can be dialled but not dial
 * out to the user's devices (a web page, reachable at a relay's circuit address) shows an
 * invitation (src/auth/pairing/invitation.ts) and waits on /ahenk/pair-invite/1.0.0 for a device
 * already on the list to accept it (acceptInvitation). The authorizer presents the nonce, signed
 * with the key Noise authenticated; from there the messages are those of /ahenk/pair/1.0.0 with
 * the invitee as the new device: it proves its key (request), records the account and list
 * (accept), confirms, and the authorizer lists it and says done. The nonce is single-use (the
 * first offer that presents it claims it, before any await) and expires.
 */
import type { Connection, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { nonceMatches, otherAccount, recordPairing } from '../../auth/pairing/accept.ts';
import { DEFAULT_PAIRING_TTL_MS, PAIRING_LIMITS, responseBytes } from '../../auth/pairing/challenge.ts';
import { PairingError } from '../../auth/pairing/errors.ts';
import { createPairingInvitation, encodePairingInvitation, offerBytes, type PairingInvitation } from '../../auth/pairing/invitation.ts';
import { decodePairAnswer, decodePairDone, decodePairOffer, encodePairingMessage, PAIRING_VERSION } from '../../auth/pairing/messages.ts';
import { decodeBase64url } from '../../auth/pairing/bytes.ts';
import { normalizeDeviceType } from '../../auth/validate.ts';
import { readIdentity } from '../../database/identity.ts';
import { base64, connectionOf, type DatabaseHandle } from '../../sqlite/index.ts';
import { PAIR_CONFIRM_TIMEOUT_MS, pairingChannel, type PairingNode } from './channel.ts';
import type { PairingResult } from './new-device.ts';

export const PAIR_INVITE_PROTOCOL = '/ahenk/pair-invite/1.0.0';

export interface InviteeOptions {
  /** How this device appears on the user's device list ('browser'). */
  deviceType: string;
  /** Where the authorizer can reach this device (for a page: `<relay>/p2p-circuit/p2p/<page>`), at most 8. */
  addresses: string[];
  /** How long the invitation stays valid. @default 120000 (at most 600000) */
  ttlMs?: number;
  /** Wall clock in Unix ms. @default Date.now */
  now?: () => number;
}

export class InviteeWorkflow {
  readonly #db: DatabaseHandle;
  readonly #node: PairingNode;
  readonly #deviceType: string;
  readonly #addresses: string[];
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #onNodeStop = () => void this.close();
  #invitation: PairingInvitation | undefined;
  #claimed = false;
  #claimedBy: string | undefined;
  #registered = false;
  #closed = false;
  #expiry: ReturnType<typeof setTimeout> | undefined;
  readonly #outcome = Promise.withResolvers<PairingResult>();
  #settled = false;

  constructor(db: DatabaseHandle, node: PairingNode, options: InviteeOptions) {
    const ttlMs = options.ttlMs ?? DEFAULT_PAIRING_TTL_MS;
    if (!Number.isFinite(ttlMs) || ttlMs <= 0 || ttlMs > PAIRING_LIMITS.maxTtlMs) throw new RangeError(`ttlMs must be between 1 and ${PAIRING_LIMITS.maxTtlMs}, got ${ttlMs}`);
    if (options.addresses.length === 0) throw new PairingError('UNREACHABLE', 'an invitation needs an address where this device can be reached');
    this.#db = db;
    this.#node = node;
    this.#deviceType = normalizeDeviceType(options.deviceType);
    this.#addresses = options.addresses.slice(0, PAIRING_LIMITS.addresses);
    this.#ttlMs = ttlMs;
    this.#now = options.now ?? Date.now;
    this.#outcome.promise.catch(() => {});
  }

  /** Makes the invitation and listens for the authorizer until one pairing finishes, it expires or closes. */
  async createInvitation(): Promise<PairingInvitation> {
    if (this.#closed || this.#node.stopSignal.aborted || this.#invitation !== undefined) throw new PairingError('CANCELLED', 'an invitation is made once per workflow; start a new one');
    const identity = readIdentity(connectionOf(this.#db));
    if (identity === undefined) throw new PairingError('CANCELLED', 'this database has no device identity');
    // Whoever accepts puts this device into their account: a device that holds one already (it is
    // on a list, or made it) would join a second, whose devices would then sync all of its data.
    const held = otherAccount(this.#db);
    if (held !== undefined) throw new PairingError('REFUSED', `this device already holds the account "${held.userName}": an invitation is for a device on no list yet; pair from a device of that account instead`);
    this.#invitation = await createPairingInvitation(identity.privateKey, this.#node.peerId, this.#addresses, this.#now() + this.#ttlMs);
    this.#registered = true;
    this.#node.stopSignal.addEventListener('abort', this.#onNodeStop, { once: true });
    // One stream per connection, and over a relay's circuit: that is how a page is reached.
    await this.#node.libp2p.handle(PAIR_INVITE_PROTOCOL, (stream, connection) => void this.#onStream(stream, connection), { maxInboundStreams: 1, runOnLimitedConnection: true });
    this.#expiry = setTimeout(() => {
      // A device that presented the nonce in time finishes (or fails) on its own deadlines: ending
      // the invitation under it would report EXPIRED for a device that then gets listed.
      if (this.#claimedBy !== undefined) return;
      // Spent, not only reported: an offer arriving a moment later must not pair either.
      this.#claimed = true;
      this.#finish(new PairingError('EXPIRED', 'the invitation expired before a device accepted it; show a new one'));
    }, this.#ttlMs);
    // On Node, a shown invitation does not keep the process alive (in a browser there is no unref).
    (this.#expiry as { unref?: () => void }).unref?.();
    return this.#invitation;
  }

  /** The device that presented the right nonce and is pairing (or paired, or failed) with this invitation, if any. */
  get claimedBy(): string | undefined {
    return this.#claimedBy;
  }

  /** The invitation as the text to show in a QR code. */
  getQrCodeString(): string {
    if (this.#invitation === undefined) throw new PairingError('UNKNOWN_CHALLENGE', 'call createInvitation() first');
    return encodePairingInvitation(this.#invitation);
  }

  /** Resolves once a device on the list accepted the invitation and this device is listed; rejects when it expires, fails or closes. */
  waitForAuthorizer(): Promise<PairingResult> {
    return this.#outcome.promise;
  }

  /** Stops listening; a pending waitForAuthorizer rejects with CANCELLED. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#claimed = true;
    this.#finish(new PairingError('CANCELLED', 'the invitation was closed'));
    await this.#release();
  }

  async #release(): Promise<void> {
    clearTimeout(this.#expiry);
    if (!this.#registered) return;
    this.#registered = false;
    this.#node.stopSignal.removeEventListener('abort', this.#onNodeStop);
    await this.#node.libp2p.unhandle(PAIR_INVITE_PROTOCOL).catch(() => {});
  }

  async #onStream(stream: Stream, connection: Connection): Promise<void> {
    const channel = pairingChannel(stream);
    const signal = this.#node.stopSignal;
    const authorizer = connection.remotePeer.toString();
    const self = this.#node.peerId;
    let claimed = false;
    /** Whether the authorizer is owed a reject when this side fails: before its request, and between the accept and the confirm. */
    let owesReject = true;
    try {
      const offer = decodePairOffer(await channel.next(signal));
      const invitation = this.#invitation;
      if (invitation === undefined || this.#closed) throw new PairingError('UNKNOWN_CHALLENGE', 'no invitation is being shown here');
      // Claimed before any await: of two devices presenting the nonce at once, one gets it.
      if (this.#claimed || !nonceMatches(invitation, offer.nonce)) throw new PairingError('UNKNOWN_CHALLENGE', 'this invitation is not pending here (used already, or never shown)');
      this.#claimed = true;
      this.#claimedBy = authorizer;
      claimed = true;
      if (this.#now() > invitation.expiresAt) throw new PairingError('EXPIRED', 'the invitation has expired; show a new one');
      const key = peerIdFromString(authorizer).publicKey;
      const proof = decodeBase64url(offer.proof);
      if (key === undefined || proof === undefined || !(await key.verify(offerBytes(self, authorizer, offer.nonce), proof))) {
        throw new PairingError('BAD_PROOF', 'the accepting device did not prove the key it connected with');
      }
      const identity = readIdentity(connectionOf(this.#db));
      if (identity === undefined) throw new PairingError('CANCELLED', 'this database has no device identity');
      const signed = base64(await identity.privateKey.sign(responseBytes(authorizer, self, invitation.nonce)), { url: true });
      owesReject = false;
      await channel.send(encodePairingMessage({ type: 'request', version: PAIRING_VERSION, nonce: invitation.nonce, deviceType: this.#deviceType, proof: signed }));
      // The authorizer may be asking its user: wait for a person, not a packet.
      const accept = decodePairAnswer(await channel.next(signal, PAIR_CONFIRM_TIMEOUT_MS));
      // A refusal of the accept (another account of that name here, a list without this device) is told to the authorizer.
      owesReject = true;
      const listed = (peerId: string) => accept.devices.some((d) => d.peerId === peerId && d.revokedAt === null);
      if (!listed(self) || !listed(authorizer)) throw new PairingError('PROTOCOL', 'the device list sent back does not hold both devices');
      if (this.#closed) throw new PairingError('CANCELLED', 'the invitation was closed');
      if (this.#node.takeTurn !== undefined) {
        await this.#node.takeTurn(signal);
        if (this.#closed) throw new PairingError('CANCELLED', 'the invitation was closed');
      }
      // Checked again with no await before the write: an account may have come meanwhile (a join in another tab).
      const held = otherAccount(this.#db, accept.user.id);
      if (held !== undefined) throw new PairingError('ACCOUNT_CONFLICT', `this device came to hold another account ("${held.userName}") while it showed the invitation; it joins no second one`);
      recordPairing(this.#db, accept);
      owesReject = false;
      await channel.send(encodePairingMessage({ type: 'confirm', version: PAIRING_VERSION }));
      decodePairDone(await channel.next(signal));
      await channel.close().catch(() => {});
      this.#finish(undefined, { userId: accept.user.id, userName: accept.user.userName, authorizer, devices: accept.devices.length });
      void this.#node.syncNow().catch(() => {});
    } catch (error) {
      const failure = error instanceof PairingError ? error : new PairingError('PROTOCOL', (error as Error).message, { cause: error });
      // Otherwise the authorizer spoke last (its reject) or the stream failed.
      if (owesReject) {
        await channel.send(encodePairingMessage({ type: 'reject', version: PAIRING_VERSION, code: failure.code, message: failure.message })).catch(() => {});
        await channel.close().catch(() => channel.abort(failure));
      } else {
        channel.abort(failure);
      }
      // A device that presented the right nonce and then failed has used up the invitation.
      if (claimed) this.#finish(failure);
    }
  }

  #finish(error: Error | undefined, result?: PairingResult): void {
    if (this.#settled) return;
    this.#settled = true;
    if (result !== undefined) this.#outcome.resolve(result);
    else this.#outcome.reject(error ?? new PairingError('CANCELLED', 'the invitation ended'));
    void this.#release();
  }
}
