/**
 * NewDeviceWorkflow: the device that wants to join scans the authorizer's QR code, checks its
 * signature and expiry, dials the authorizer (libp2p checks, in the Noise handshake, that the key
 * answering is the one the code names), proves its own key by signing the nonce, records the
 * account and device list it gets back and confirms; the authorizer then lists it and says done.
 * Then it syncs with the authorizer. If the authorizer never says done, pairing failed: what this
 * device recorded lets it trust the authorizer, which still refuses it, and a new code can be
 * used to try again.
 */
import { multiaddr } from '@multiformats/multiaddr';
import { peerIdFromString } from '@libp2p/peer-id';
import { recordPairing } from '../../auth/pairing/accept.ts';
import { decodePairingQr, responseBytes, verifyPairingChallenge } from '../../auth/pairing/challenge.ts';
import { PairingError } from '../../auth/pairing/errors.ts';
import { decodePairAnswer, decodePairDone, encodePairingMessage, PAIRING_VERSION } from '../../auth/pairing/messages.ts';
import { normalizeDeviceType } from '../../auth/validate.ts';
import { base64, connectionOf, type DatabaseHandle } from '../../sqlite/index.ts';
import { readIdentity } from '../../database/identity.ts';
import { DIAL_TIMEOUT_MS } from '../node/constants.ts';
import { withPeer } from '../node/dialer.ts';
import { recordAddressWorked, rememberPeer, validPeerAddresses } from '../node/peer-store.ts';
import { PAIR_CONFIRM_TIMEOUT_MS, PAIR_PROTOCOL, pairingChannel, type PairingNode } from './channel.ts';

export interface NewDeviceOptions {
  /** How this device appears on the user's device list ('phone', 'laptop'). */
  deviceType: string;
  /** Wall clock in Unix ms, for the expiry check. @default Date.now */
  now?: () => number;
}

export interface PairingResult {
  /** The account this device joined. */
  userId: string;
  userName: string;
  /** The device that authorized this one. */
  authorizer: string;
  /** Devices now on this device's list (this one and the authorizer included). */
  devices: number;
}

export class NewDeviceWorkflow {
  readonly #db: DatabaseHandle;
  readonly #node: PairingNode;
  readonly #deviceType: string;
  readonly #now: () => number;

  /** How this device will be listed, normalised. */
  get deviceType(): string {
    return this.#deviceType;
  }

  constructor(db: DatabaseHandle, node: PairingNode, options: NewDeviceOptions) {
    this.#db = db;
    this.#node = node;
    this.#deviceType = normalizeDeviceType(options.deviceType);
    this.#now = options.now ?? Date.now;
  }

  /**
   * Pairs with the device whose QR code `qrString` is. Resolves once this device is on the user's
   * list and knows it; a first sync with the authorizer then starts in the background. Throws
   * PairingError (INVALID_QR, BAD_SIGNATURE, EXPIRED, UNREACHABLE, REFUSED, UNKNOWN_CHALLENGE,
   * PROTOCOL, ACCOUNT_CONFLICT, CANCELLED).
   */
  async respondToChallenge(qrString: string, options: { signal?: AbortSignal } = {}): Promise<PairingResult> {
    const challenge = decodePairingQr(qrString);
    await verifyPairingChallenge(challenge, this.#now());
    const self = this.#node.peerId;
    if (challenge.authorizer === self) throw new PairingError('REFUSED', 'this pairing code was made by this device; scan it on the new one');
    const identity = readIdentity(connectionOf(this.#db));
    if (identity === undefined) throw new PairingError('CANCELLED', 'this database has no device identity');

    // Every address is pinned to the authorizer's id, so only that key can answer.
    let targets: ReturnType<typeof multiaddr>[];
    try {
      targets = challenge.addresses.map((address) => multiaddr(withPeer(address, challenge.authorizer)));
    } catch (error) {
      throw new PairingError('INVALID_QR', `an address in the pairing code is not a multiaddr: ${(error as Error).message}`);
    }
    const signal = AbortSignal.any([AbortSignal.timeout(DIAL_TIMEOUT_MS), ...(options.signal ? [options.signal] : [])]);
    const stream = await this.#node.libp2p.dialProtocol(targets, PAIR_PROTOCOL, { signal, runOnLimitedConnection: true }).catch((error: unknown) => {
      // The authorizer stops listening once its code is used, expired or closed.
      if (error instanceof Error && error.name === 'UnsupportedProtocolError') {
        throw new PairingError('UNKNOWN_CHALLENGE', 'the other device is not showing this pairing code any more (used, expired or closed)', { cause: error });
      }
      if (options.signal?.aborted) throw new PairingError('CANCELLED', 'pairing was cancelled', { cause: error });
      // Refused at every address: the machine is there and nothing listens, so the pairing that showed the code has ended.
      if (refusedEverywhere(error)) {
        throw new PairingError(
          'UNKNOWN_CHALLENGE',
          'nothing answers at the addresses in this pairing code (connection refused): the pairing that showed it has ended, so the code was used, expired or cancelled; show a new code (ahenk pair) and use that',
          { cause: error },
        );
      }
      throw new PairingError('UNREACHABLE', `could not reach the device that showed the code: ${(error as Error).message}`, { cause: error });
    });
    const channel = pairingChannel(stream);
    try {
      const proof = base64(await identity.privateKey.sign(responseBytes(challenge.authorizer, self, challenge.nonce)), { url: true });
      await channel.send(encodePairingMessage({ type: 'request', version: PAIRING_VERSION, nonce: challenge.nonce, deviceType: this.#deviceType, proof }));
      // The authorizer may be asking its user to confirm this device: wait for a person, not a packet.
      const accept = decodePairAnswer(await channel.next(options.signal, PAIR_CONFIRM_TIMEOUT_MS));
      const listed = (peerId: string) => accept.devices.some((d) => d.peerId === peerId && d.revokedAt === null);
      if (!listed(self) || !listed(challenge.authorizer)) throw new PairingError('PROTOCOL', 'the device list sent back does not hold both devices');
      // Recorded here first; the authorizer lists this device only once it hears that.
      if (this.#node.takeTurn !== undefined) await this.#node.takeTurn(options.signal === undefined ? this.#node.stopSignal : AbortSignal.any([options.signal, this.#node.stopSignal]));
      recordPairing(this.#db, accept);
      await channel.send(encodePairingMessage({ type: 'confirm', version: PAIRING_VERSION }));
      decodePairDone(await channel.next(options.signal));
      await channel.close().catch(() => {});
      if (this.#node.takeTurn !== undefined) await this.#node.takeTurn(this.#node.stopSignal);
      const raw = connectionOf(this.#db);
      rememberPeer(raw, challenge.authorizer, validPeerAddresses(challenge.authorizer, challenge.addresses));
      // The address the pairing went through is the one known to work: dialled first next time.
      const [worked] = validPeerAddresses(challenge.authorizer, this.#node.libp2p.getConnections(peerIdFromString(challenge.authorizer)).map((c) => c.remoteAddr));
      if (worked !== undefined) recordAddressWorked(raw, challenge.authorizer, worked);
      void this.#node.syncNow().catch(() => {});
      return { userId: accept.user.id, userName: accept.user.userName, authorizer: peerIdFromString(challenge.authorizer).toString(), devices: accept.devices.length };
    } catch (error) {
      channel.abort(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
  }
}

/** Whether every dial behind `error` (libp2p's AggregateError of one per address) was refused (ECONNREFUSED). */
function refusedEverywhere(error: unknown, depth = 0): boolean {
  if (typeof error !== 'object' || error === null || depth > 8) return false;
  const { code, errors, cause } = error as { code?: unknown; errors?: unknown; cause?: unknown };
  if (code === 'ECONNREFUSED') return true;
  if (Array.isArray(errors) && errors.length > 0) return errors.every((e) => refusedEverywhere(e, depth + 1));
  return cause !== undefined && refusedEverywhere(cause, depth + 1);
}
