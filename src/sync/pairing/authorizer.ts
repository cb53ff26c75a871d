/**
 * AuthorizerWorkflow: the device that is already on the user's list shows a QR code and waits for
 * the new device to answer over /ahenk/pair/1.0.0. The challenge is single-use (the first correct
 * nonce claims it, before any await) and expires; the new device must also sign the nonce with the
 * key Noise authenticated. Only then is it authorized, and it receives the account and device list.
 */
import type { Connection, Stream } from '@libp2p/interface';
import { answerPairRequest, nonceMatches } from '../../auth/pairing/accept.ts';
import { createPairingChallenge, DEFAULT_PAIRING_TTL_MS, encodePairingQr, PAIRING_LIMITS, type PairingChallenge } from '../../auth/pairing/challenge.ts';
import { PairingError } from '../../auth/pairing/errors.ts';
import { decodePairRequest, encodePairingMessage, PAIRING_VERSION, type PairRequest } from '../../auth/pairing/messages.ts';
import { clientOf, type DatabaseHandle } from '../../database/handle.ts';
import { readIdentity } from '../../database/identity.ts';
import { requireUser } from '../../auth/accounts.ts';
import type { SyncNode } from '../node/node.ts';
import { PAIR_PROTOCOL, pairingChannel, readOneFrame } from './channel.ts';

export interface AuthorizerOptions {
  /** The account the new device joins; it must exist in this database. */
  userId: string;
  /** How long the QR code stays valid. @default 120000 (at most 600000) */
  ttlMs?: number;
  /** How this device lists itself if it is not on the device list yet. @default 'device' */
  deviceType?: string;
  /** Addresses to put in the QR code. @default the node's own listen addresses (relayed ones last) */
  addresses?: string[];
  /** Wall clock in Unix ms. @default Date.now */
  now?: () => number;
}

export interface PairedDevice {
  peerId: string;
  deviceType: string;
  userId: string;
}

/** One pairing at a time per node: the protocol has one handler. */
const busy = new WeakSet<SyncNode>();

export class AuthorizerWorkflow {
  readonly #db: DatabaseHandle;
  readonly #node: SyncNode;
  readonly #options: Required<Omit<AuthorizerOptions, 'addresses'>> & { addresses: string[] | undefined };
  #challenge: PairingChallenge | undefined;
  #claimed = false;
  #registered = false;
  #closed = false;
  #expiry: NodeJS.Timeout | undefined;
  readonly #waiters: { resolve: (device: PairedDevice) => void; reject: (error: Error) => void }[] = [];
  #outcome: { device?: PairedDevice; error?: Error } | undefined;

  constructor(db: DatabaseHandle, node: SyncNode, options: AuthorizerOptions) {
    const ttlMs = options.ttlMs ?? DEFAULT_PAIRING_TTL_MS;
    if (!Number.isFinite(ttlMs) || ttlMs <= 0 || ttlMs > PAIRING_LIMITS.maxTtlMs) throw new PairingError('INVALID_QR', `ttlMs must be between 1 and ${PAIRING_LIMITS.maxTtlMs}`);
    requireUser(db, options.userId);
    this.#db = db;
    this.#node = node;
    this.#options = { userId: options.userId, ttlMs, deviceType: options.deviceType ?? 'device', now: options.now ?? Date.now, addresses: options.addresses };
  }

  /** Makes a new challenge (any earlier one of this workflow stops being valid) and starts listening for the answer. */
  async createChallenge(): Promise<PairingChallenge> {
    if (this.#closed) throw new PairingError('CANCELLED', 'this pairing workflow is closed');
    if (!this.#registered) {
      if (busy.has(this.#node)) throw new PairingError('CANCELLED', 'another pairing is already waiting on this node; close it first');
      busy.add(this.#node);
      this.#registered = true;
      await this.#node.libp2p.handle(PAIR_PROTOCOL, (stream, connection) => void this.#onStream(stream, connection));
    }
    const identity = readIdentity(clientOf(this.#db));
    if (identity === undefined) throw new PairingError('CANCELLED', 'this database has no device identity');
    const addresses = this.#options.addresses ?? ownAddresses(this.#node);
    if (addresses.length === 0) throw new PairingError('CANCELLED', 'the node has no address a new device could dial');
    const now = this.#options.now();
    this.#challenge = await createPairingChallenge(identity.privateKey, this.#node.peerId, addresses, now + this.#options.ttlMs);
    this.#claimed = false;
    this.#outcome = undefined;
    clearTimeout(this.#expiry);
    this.#expiry = setTimeout(() => this.#finish({ error: new PairingError('EXPIRED', 'the pairing code expired before a device answered; show a new one') }), this.#options.ttlMs);
    this.#expiry.unref();
    return this.#challenge;
  }

  /** The current challenge as the text to show in a QR code. */
  getQrCodeString(): string {
    if (this.#challenge === undefined) throw new PairingError('UNKNOWN_CHALLENGE', 'call createChallenge() first');
    return encodePairingQr(this.#challenge);
  }

  /** Resolves with the device once one has answered the current challenge correctly; rejects when it expires or the workflow closes. */
  waitForResponse(options: { signal?: AbortSignal } = {}): Promise<PairedDevice> {
    if (this.#challenge === undefined) return Promise.reject(new PairingError('UNKNOWN_CHALLENGE', 'call createChallenge() first'));
    if (this.#outcome) return this.#outcome.device ? Promise.resolve(this.#outcome.device) : Promise.reject(this.#outcome.error!);
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject };
      this.#waiters.push(waiter);
      options.signal?.addEventListener(
        'abort',
        () => {
          const at = this.#waiters.indexOf(waiter);
          if (at >= 0) this.#waiters.splice(at, 1);
          reject(new PairingError('CANCELLED', 'stopped waiting for the new device'));
        },
        { once: true },
      );
    });
  }

  /** Stops listening; a pending waitForResponse rejects with CANCELLED. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#expiry);
    this.#finish({ error: new PairingError('CANCELLED', 'the pairing workflow was closed') });
    if (this.#registered) {
      busy.delete(this.#node);
      await this.#node.libp2p.unhandle(PAIR_PROTOCOL).catch(() => {});
    }
  }

  async #onStream(stream: Stream, connection: Connection): Promise<void> {
    const channel = pairingChannel(stream);
    const remote = connection.remotePeer.toString();
    let request: PairRequest | undefined;
    try {
      request = decodePairRequest(await readOneFrame(channel));
      const challenge = this.#challenge;
      if (challenge === undefined || this.#closed) throw new PairingError('UNKNOWN_CHALLENGE', 'no pairing code is being shown here');
      // Claimed before any await: of two devices presenting the nonce at once, one gets it.
      const used = this.#claimed;
      if (nonceMatches(challenge, request.nonce)) this.#claimed = true;
      const accept = await answerPairRequest(this.#db, {
        challenge,
        used,
        request,
        remotePeerId: remote,
        userId: this.#options.userId,
        selfDeviceType: this.#options.deviceType,
        now: this.#options.now(),
      });
      await channel.send(encodePairingMessage(accept));
      await channel.close();
      const device = accept.devices.find((d) => d.peerId === remote)!;
      this.#finish({ device: { peerId: remote, deviceType: device.deviceType, userId: this.#options.userId } });
    } catch (error) {
      const failure = error instanceof PairingError ? error : new PairingError('PROTOCOL', (error as Error).message, { cause: error });
      await channel.send(encodePairingMessage({ type: 'reject', version: PAIRING_VERSION, code: failure.code, message: failure.message })).catch(() => {});
      await channel.close().catch(() => channel.abort(failure));
      // A device that presented the right nonce and then failed has used up the code.
      if (request !== undefined && this.#challenge !== undefined && this.#claimed && nonceMatches(this.#challenge, request.nonce)) this.#finish({ error: failure });
    }
  }

  #finish(outcome: { device?: PairedDevice; error?: Error }): void {
    if (this.#outcome) return;
    this.#outcome = outcome;
    clearTimeout(this.#expiry);
    for (const waiter of this.#waiters.splice(0)) {
      if (outcome.device) waiter.resolve(outcome.device);
      else waiter.reject(outcome.error!);
    }
  }
}

/** Direct addresses first (a QR code holds a handful), each ending in this node's /p2p id. */
function ownAddresses(node: SyncNode): string[] {
  const all = node.getMultiaddrs();
  return [...all.filter((a) => !a.includes('/p2p-circuit')), ...all.filter((a) => a.includes('/p2p-circuit'))].slice(0, PAIRING_LIMITS.addresses);
}
