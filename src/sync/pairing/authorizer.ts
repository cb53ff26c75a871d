/**
 * AuthorizerWorkflow: the device that is already on the user's list shows a QR code and waits for
 * the new device to answer over /ahenk/pair/1.0.0. The challenge is single-use (the first correct
 * nonce claims it, before any await) and expires; the new device must also sign the nonce with the
 * key Noise authenticated, and the app may ask the user to confirm it. The new device then gets the
 * account and device list, and goes on the list only after it confirms it recorded them.
 */
import type { Connection, Stream } from '@libp2p/interface';
import { commitPairing, nonceMatches, planPairing } from '../../auth/pairing/accept.ts';
import { createPairingChallenge, DEFAULT_PAIRING_TTL_MS, encodePairingQr, PAIRING_LIMITS, type PairingChallenge } from '../../auth/pairing/challenge.ts';
import { PairingError } from '../../auth/pairing/errors.ts';
import { decodePairConfirm, decodePairRequest, encodePairingMessage, MAX_PAIRING_FRAME_BYTES, PAIRING_VERSION, type PairRequest } from '../../auth/pairing/messages.ts';
import { connectionOf, type DatabaseHandle } from '../../sqlite/index.ts';
import { readIdentity } from '../../database/identity.ts';
import { requireUser } from '../../auth/accounts.ts';
import type { SyncNode } from '../node/node.ts';
import { PAIR_PROTOCOL, pairingChannel } from './channel.ts';

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
  /**
   * Asked once the new device has proved its key, before it learns anything: show the user its
   * type and id and let them refuse a device they do not recognise (someone who photographed the
   * code). @default every device that proves its key is accepted
   */
  confirm?: (device: { peerId: string; deviceType: string }) => boolean | Promise<boolean>;
}

export interface PairedDevice {
  peerId: string;
  deviceType: string;
  userId: string;
}

/** One pairing at a time per node: the protocol has one handler. */
const busy = new WeakSet<SyncNode>();

/** Request and confirm are a few hundred bytes; nobody gets to park a large frame on the authorizer. */
const MAX_REQUEST_FRAME_BYTES = 4 * 1024;

export class AuthorizerWorkflow {
  readonly #db: DatabaseHandle;
  readonly #node: SyncNode;
  readonly #options: Required<Omit<AuthorizerOptions, 'addresses' | 'confirm'>> & Pick<AuthorizerOptions, 'confirm'> & { addresses: string[] | undefined };
  readonly #onNodeStop = () => void this.close();
  #challenge: PairingChallenge | undefined;
  #claimed = false;
  #registered = false;
  #closed = false;
  #expiry: NodeJS.Timeout | undefined;
  readonly #waiters: { resolve: (device: PairedDevice) => void; reject: (error: Error) => void }[] = [];
  #outcome: { device?: PairedDevice; error?: Error } | undefined;

  constructor(db: DatabaseHandle, node: SyncNode, options: AuthorizerOptions) {
    const ttlMs = options.ttlMs ?? DEFAULT_PAIRING_TTL_MS;
    if (!Number.isFinite(ttlMs) || ttlMs <= 0 || ttlMs > PAIRING_LIMITS.maxTtlMs) throw new RangeError(`ttlMs must be between 1 and ${PAIRING_LIMITS.maxTtlMs}, got ${ttlMs}`);
    requireUser(db, options.userId);
    this.#db = db;
    this.#node = node;
    this.#options = { userId: options.userId, ttlMs, deviceType: options.deviceType ?? 'device', now: options.now ?? Date.now, addresses: options.addresses };
    if (options.confirm !== undefined) this.#options.confirm = options.confirm;
  }

  /**
   * Makes a new challenge (any earlier one of this workflow stops being valid, and a pairing still
   * in flight for it fails) and listens for the answer until one pairing finishes.
   */
  async createChallenge(): Promise<PairingChallenge> {
    if (this.#closed || this.#node.stopSignal.aborted) throw new PairingError('CANCELLED', 'this pairing workflow is closed');
    const identity = readIdentity(connectionOf(this.#db));
    if (identity === undefined) throw new Error('this database has no device identity; open it with initializeDatabase');
    const addresses = this.#options.addresses ?? ownAddresses(this.#node);
    if (addresses.length === 0) throw new Error('the sync node has no address a new device could dial');
    await this.#listen();
    const now = this.#options.now();
    this.#challenge = await createPairingChallenge(identity.privateKey, this.#node.peerId, addresses, now + this.#options.ttlMs);
    this.#claimed = false;
    this.#outcome = undefined;
    clearTimeout(this.#expiry);
    this.#expiry = setTimeout(() => {
      // Spent, not only reported: a request arriving a moment later must not pair either.
      this.#claimed = true;
      this.#finish({ error: new PairingError('EXPIRED', 'the pairing code expired before a device answered; show a new one') });
    }, this.#options.ttlMs);
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
    this.#claimed = true;
    clearTimeout(this.#expiry);
    this.#finish({ error: new PairingError('CANCELLED', 'the pairing workflow was closed') });
    await this.#release();
  }

  async #listen(): Promise<void> {
    if (this.#registered) return;
    if (busy.has(this.#node)) throw new PairingError('CANCELLED', 'another pairing is already waiting on this node; close it first');
    busy.add(this.#node);
    this.#registered = true;
    this.#node.stopSignal.addEventListener('abort', this.#onNodeStop, { once: true });
    // One stream per connection, small frames, and over relays too (a device behind NAT pairs
    // through its relay address).
    await this.#node.libp2p.handle(PAIR_PROTOCOL, (stream, connection) => void this.#onStream(stream, connection), { maxInboundStreams: 1, runOnLimitedConnection: true });
  }

  /** Frees the protocol and the node's pairing slot: a finished pairing does not block the next one. */
  async #release(): Promise<void> {
    if (!this.#registered) return;
    this.#registered = false;
    busy.delete(this.#node);
    this.#node.stopSignal.removeEventListener('abort', this.#onNodeStop);
    await this.#node.libp2p.unhandle(PAIR_PROTOCOL).catch(() => {});
  }

  async #onStream(stream: Stream, connection: Connection): Promise<void> {
    const channel = pairingChannel(stream, MAX_REQUEST_FRAME_BYTES);
    const remote = connection.remotePeer.toString();
    let claimed: PairingChallenge | undefined;
    let committed: PairedDevice | undefined;
    // A pairing goes on only while its challenge is the current one and nothing was reported yet.
    const stillPending = (challenge: PairingChallenge) => {
      if (this.#closed) throw new PairingError('CANCELLED', 'the pairing workflow was closed');
      if (this.#challenge !== challenge) throw new PairingError('UNKNOWN_CHALLENGE', 'a newer pairing code replaced this one');
      if (this.#outcome?.error) throw this.#outcome.error;
    };
    try {
      const request: PairRequest = decodePairRequest(await channel.next(this.#node.stopSignal));
      const challenge = this.#challenge;
      if (challenge === undefined || this.#closed) throw new PairingError('UNKNOWN_CHALLENGE', 'no pairing code is being shown here');
      // Claimed before any await: of two devices presenting the nonce at once, one gets it.
      const used = this.#claimed;
      if (!used && nonceMatches(challenge, request.nonce)) {
        this.#claimed = true;
        claimed = challenge;
      }
      const plan = await planPairing(this.#db, { challenge, used, request, remotePeerId: remote, userId: this.#options.userId, selfDeviceType: this.#options.deviceType, now: this.#options.now() });
      if (this.#options.confirm !== undefined && !(await this.#options.confirm(plan.device))) {
        throw new PairingError('REFUSED', 'the user did not confirm this device');
      }
      stillPending(challenge);
      const accept = encodePairingMessage(plan.accept);
      if (accept.byteLength > MAX_PAIRING_FRAME_BYTES) throw new PairingError('REFUSED', `the account and device list take ${accept.byteLength} bytes, over the ${MAX_PAIRING_FRAME_BYTES}-byte pairing limit`);
      await channel.send(accept);
      decodePairConfirm(await channel.next(this.#node.stopSignal));
      // Checked and committed with no await between: expiry, close or a new code cannot slip in.
      stillPending(challenge);
      commitPairing(this.#db, plan);
      committed = { ...plan.device, userId: this.#options.userId };
      this.#finish({ device: committed });
      await channel.send(encodePairingMessage({ type: 'done', version: PAIRING_VERSION }));
      await channel.close().catch(() => {});
    } catch (error) {
      // Once listed, the device is paired: a lost "done" is the new device's problem to report.
      if (committed !== undefined) {
        channel.abort(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      const failure = error instanceof PairingError ? error : new PairingError('PROTOCOL', (error as Error).message, { cause: error });
      await channel.send(encodePairingMessage({ type: 'reject', version: PAIRING_VERSION, code: failure.code, message: failure.message })).catch(() => {});
      await channel.close().catch(() => channel.abort(failure));
      // A device that presented the right nonce and then failed has used up the code.
      if (claimed !== undefined && this.#challenge === claimed) this.#finish({ error: failure });
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
    void this.#release();
  }
}

/** Direct addresses first (a QR code holds a handful), each ending in this node's /p2p id. */
function ownAddresses(node: SyncNode): string[] {
  const all = node.getMultiaddrs();
  return [...all.filter((a) => !a.includes('/p2p-circuit')), ...all.filter((a) => a.includes('/p2p-circuit'))].slice(0, PAIRING_LIMITS.addresses);
}
