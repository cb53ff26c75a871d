/**
 * Whom the node dials and when: bootstrap addresses from the config and every authorized peer
 * remembered in the database, at start, on syncNow(), after a disconnect and after a network
 * change, retried with exponential backoff while the node runs. A known peer's addresses are tried
 * one at a time, freshest first, each with its own short timeout; the ones that failed recently
 * are left out (peer-store.ts, dialPlan), and every failure is recorded with its reason, so that
 * the log can say which addresses were tried and why each failed.
 */
import './polyfill.ts';
import type { Libp2p } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import type { SqliteConnection } from '../../sqlite/index.ts';
import { BackoffTimers } from './backoff.ts';
import type { ResolvedConfig } from './config.ts';
import { ADDRESS_DIAL_TIMEOUT_MS, DIAL_TIMEOUT_MS, MAX_DIAL_ERROR_LENGTH } from './constants.ts';
import type { DialFailure, PeerUnreachableEvent } from './events.ts';
import { dialPlan, forgetAddressFailures, listKnownPeers, peerAddresses, recordAddressFailed } from './peer-store.ts';

interface DialTarget {
  /** `peer:<id>` for a known peer, `addr:<multiaddr>` for a bootstrap address without an id. */
  key: string;
  peerId: string | undefined;
  /** Addresses from the config; a known peer's remembered ones are read at each attempt. */
  addresses: Multiaddr[];
}

export interface DialerHost {
  libp2p: Libp2p;
  raw: SqliteConnection;
  config: ResolvedConfig;
  localPeerId: string;
  stopSignal: AbortSignal;
  isAuthorized(peerId: string): boolean;
  /** Told when a known peer could not be reached at any address in one attempt. */
  unreachable(event: PeerUnreachableEvent): void;
}

/** Every address of a known peer failed (or none could be tried now). */
class PeerUnreachable extends Error {
  readonly tried: DialFailure[];
  readonly backedOff: { address: string; retryAt: number }[];

  constructor(peerId: string, tried: DialFailure[], backedOff: { address: string; retryAt: number }[]) {
    super(unreachableMessage(peerId, tried, backedOff));
    this.name = 'PeerUnreachable';
    this.tried = tried;
    this.backedOff = backedOff;
  }
}

export class PeerDialer {
  readonly #host: DialerHost;
  /** Also used for session retries, so one clear() on stop cancels every pending timer. */
  readonly retries: BackoffTimers;
  /** Targets being dialled now: a second dial of one (syncNow during a start) would count its failures twice. */
  readonly #dialling = new Set<string>();

  constructor(host: DialerHost) {
    this.#host = host;
    this.retries = new BackoffTimers({ initialDelayMs: host.config.reconnectInitialDelayMs, maxDelayMs: host.config.reconnectMaxDelayMs });
  }

  /** Dials every target that is not connected now. */
  dialAll(): void {
    for (const target of this.#targets()) if (target.peerId === undefined || !this.isConnected(target.peerId)) this.#dialWithRetry(target, false);
  }

  /** After a lost connection to an authorized peer: dial it again after the backoff. */
  reconnect(peerId: string): void {
    if (this.#host.config.reconnect) this.#dialWithRetry({ key: `peer:${peerId}`, peerId, addresses: [] }, true);
  }

  /** The peer is connected: forget its failures and cancel a pending retry. */
  connected(peerId: string): void {
    this.retries.reset(`peer:${peerId}`);
  }

  /**
   * The machine's network changed: addresses that failed before may work now, and waiting out a
   * minute of backoff would leave the user without sync for it. Forget every failure and dial now.
   */
  networkChanged(): void {
    forgetAddressFailures(this.#host.raw);
    for (const target of this.#targets()) this.retries.reset(target.key);
    this.dialAll();
  }

  isConnected(peerId: string): boolean {
    return this.#host.libp2p.getConnections(peerIdFromString(peerId)).length > 0;
  }

  clear(): void {
    this.retries.clear();
  }

  #targets(): DialTarget[] {
    const { config, raw, localPeerId } = this.#host;
    const targets = new Map<string, DialTarget>();
    for (const address of config.bootstrapPeers) {
      const peerId = address.getComponents().findLast((c) => c.name === 'p2p')?.value;
      const key = peerId === undefined ? `addr:${address.toString()}` : `peer:${peerId}`;
      const target = targets.get(key) ?? { key, peerId, addresses: [] };
      target.addresses.push(address);
      targets.set(key, target);
    }
    for (const known of listKnownPeers(raw)) {
      if (known.peerId === localPeerId || !this.#host.isAuthorized(known.peerId) || (known.addresses.length === 0 && config.relayServers.length === 0)) continue;
      const key = `peer:${known.peerId}`;
      if (!targets.has(key)) targets.set(key, { key, peerId: known.peerId, addresses: [] });
    }
    if (config.relayServers.length > 0) {
      // With relays, every device on the user's list is worth a dial, even one never seen: the
      // relay reaches it if it holds a reservation there.
      for (const peerId of listedDevices(raw)) {
        const key = `peer:${peerId}`;
        if (peerId === localPeerId || targets.has(key) || !this.#host.isAuthorized(peerId)) continue;
        targets.set(key, { key, peerId, addresses: [] });
      }
    }
    return [...targets.values()];
  }

  #dialWithRetry(target: DialTarget, later: boolean): void {
    const { config, stopSignal } = this.#host;
    const attempt = (): void => {
      if (stopSignal.aborted || this.#dialling.has(target.key) || (target.peerId !== undefined && this.isConnected(target.peerId))) return;
      this.#dialling.add(target.key);
      void this.#dial(target).then(
        () => {
          this.#dialling.delete(target.key);
          this.retries.reset(target.key);
        },
        (error: unknown) => {
          this.#dialling.delete(target.key);
          if (stopSignal.aborted) return;
          const delay = config.reconnect ? this.retries.schedule(target.key, attempt) : undefined;
          const retry = delay === undefined ? '' : `; retry in ${delay} ms`;
          if (error instanceof PeerUnreachable && target.peerId !== undefined) {
            config.log(`${error.message}${retry}`);
            if (error.tried.length > 0) {
              this.#host.unreachable({ peerId: target.peerId, tried: error.tried, backedOff: error.backedOff, ...(delay === undefined ? {} : { retryInMs: delay }) });
            }
          } else {
            config.log(`dial ${target.key} failed (${(error as Error).message})${retry}`);
          }
        },
      );
    };
    if (later) this.retries.schedule(target.key, attempt);
    else attempt();
  }

  async #dial(target: DialTarget): Promise<void> {
    const { libp2p, raw, stopSignal } = this.#host;
    if (target.peerId === undefined) {
      await libp2p.dial(target.addresses, { signal: AbortSignal.any([stopSignal, AbortSignal.timeout(DIAL_TIMEOUT_MS)]) });
      return;
    }
    const peerId = target.peerId;
    // Remembered addresses are read again at each attempt: identify may have taught new ones.
    const now = Date.now();
    const plan = dialPlan(peerAddresses(raw, peerId), now);
    const configured = target.addresses.map((a) => stripPeer(a, peerId));
    // The user's relays know the user's devices: a known peer holding a reservation on one of them
    // is reachable at `<relay>/p2p-circuit/p2p/<peer>` wherever it is; tried after the direct ones.
    const viaRelays = this.#host.config.relayServers.map((relay) => `${relay.toString()}/p2p-circuit`);
    const order = [...new Set([...configured, ...plan.dial.map((a) => a.address), ...viaRelays])];
    const remembered = new Set(plan.dial.map((a) => a.address));
    const tried: DialFailure[] = [];
    for (const address of order) {
      if (stopSignal.aborted || this.isConnected(peerId)) return;
      const timeout = AbortSignal.timeout(ADDRESS_DIAL_TIMEOUT_MS);
      try {
        await libp2p.dial(multiaddr(withPeer(address, peerId)), { signal: AbortSignal.any([stopSignal, timeout]) });
        return;
      } catch (error) {
        if (stopSignal.aborted) return;
        const reason = dialFailureReason(error, timeout.aborted);
        tried.push({ address, error: reason });
        if (remembered.has(address)) recordAddressFailed(raw, peerId, address, reason);
      }
    }
    if (this.isConnected(peerId)) return;
    const leftOut = plan.backedOff.filter((b) => !configured.includes(b.address.address));
    throw new PeerUnreachable(peerId, tried, leftOut.map((b) => ({ address: b.address.address, retryAt: b.retryAt })));
  }
}

/** A short, loggable reason: the underlying socket error where libp2p wraps one. */
export function dialFailureReason(error: unknown, timedOut: boolean): string {
  if (timedOut) return `no answer within ${ADDRESS_DIAL_TIMEOUT_MS / 1000} s`;
  let cause: unknown = error;
  // libp2p reports a failed dial as an AggregateError or wraps the socket's error as `cause`.
  for (let depth = 0; depth < 4; depth++) {
    if (cause instanceof AggregateError && cause.errors.length > 0) cause = cause.errors[0];
    else if (cause instanceof Error && cause.cause instanceof Error) cause = cause.cause;
    else break;
  }
  const text = cause instanceof Error ? cause.message || cause.name : String(cause);
  // It is logged: one line, with no control character from whatever the message quoted.
  return text.replace(/[\s\u0000-\u001f\u007f-\u009f]+/g, ' ').slice(0, MAX_DIAL_ERROR_LENGTH);
}

function unreachableMessage(peerId: string, tried: readonly DialFailure[], backedOff: readonly { address: string; retryAt: number }[]): string {
  const parts: string[] = [];
  if (tried.length > 0) parts.push(`tried ${tried.map((t) => `${t.address} (${t.error})`).join(', ')}`);
  if (backedOff.length > 0) parts.push(`left out ${backedOff.map((b) => `${b.address} (failed recently; again after ${new Date(b.retryAt).toISOString()})`).join(', ')}`);
  if (parts.length === 0) parts.push('no address known');
  return `could not reach ${peerId}: ${parts.join('; ')}`;
}

/** The address without a trailing `/p2p/<peerId>`: how ahenk_peer_addresses stores it. */
export function stripPeer(address: Multiaddr, peerId: string): string {
  const text = address.toString();
  const suffix = `/p2p/${peerId}`;
  return text.endsWith(suffix) ? text.slice(0, -suffix.length) : text;
}

export function withPeer(address: string, peerId: string): string {
  return address.endsWith(`/p2p/${peerId}`) ? address : `${address}/p2p/${peerId}`;
}

/** Peer ids on the device list (authorization is checked by the caller). */
function listedDevices(raw: SqliteConnection): string[] {
  const rows = raw.prepare('SELECT DISTINCT peer_id FROM ahenk_devices WHERE peer_id IS NOT NULL').all() as { peer_id: string }[];
  return rows.map((row) => row.peer_id);
}

/** Dials `address` (a multiaddr string) within DIAL_TIMEOUT_MS, until `stopSignal` or `signal` aborts; resolves with the remote PeerId. */
export async function dialAddress(libp2p: Libp2p, address: string, stopSignal: AbortSignal, signal?: AbortSignal): Promise<string> {
  const signals = [stopSignal, AbortSignal.timeout(DIAL_TIMEOUT_MS), ...(signal ? [signal] : [])];
  const connection = await libp2p.dial(multiaddr(address), { signal: AbortSignal.any(signals) });
  return connection.remotePeer.toString();
}
