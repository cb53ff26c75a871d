/**
 * Whom the node dials and when: bootstrap addresses from the config and every authorized peer
 * remembered in ahenk_peers, at start, on syncNow() and after a disconnect, retried with
 * exponential backoff while the node runs.
 */
import './polyfill.ts';
import type { Libp2p } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import type { SqliteConnection } from '../../sqlite/index.ts';
import { BackoffTimers } from './backoff.ts';
import type { ResolvedConfig } from './config.ts';
import { DIAL_TIMEOUT_MS } from './constants.ts';
import { listKnownPeers } from './peer-store.ts';

interface DialTarget {
  /** `peer:<id>` for a known peer, `addr:<multiaddr>` for a bootstrap address without an id. */
  key: string;
  peerId: string | undefined;
  addresses: Multiaddr[];
}

export interface DialerHost {
  libp2p: Libp2p;
  raw: SqliteConnection;
  config: ResolvedConfig;
  localPeerId: string;
  stopSignal: AbortSignal;
  isAuthorized(peerId: string): boolean;
}

export class PeerDialer {
  readonly #host: DialerHost;
  /** Also used for session retries, so one clear() on stop cancels every pending timer. */
  readonly retries: BackoffTimers;

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
      if (known.peerId === localPeerId || !this.#host.isAuthorized(known.peerId)) continue;
      const key = `peer:${known.peerId}`;
      const target = targets.get(key) ?? { key, peerId: known.peerId, addresses: [] };
      target.addresses.push(...parseAll(known.addresses));
      if (target.addresses.length > 0 || config.relayServers.length > 0) targets.set(key, target);
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
      if (stopSignal.aborted || (target.peerId !== undefined && this.isConnected(target.peerId))) return;
      void this.#dial(target).then(
        () => this.retries.reset(target.key),
        (error: unknown) => {
          if (stopSignal.aborted) return;
          const delay = config.reconnect ? this.retries.schedule(target.key, attempt) : undefined;
          config.log(`dial ${target.key} failed (${(error as Error).message})${delay === undefined ? '' : `; retry in ${delay} ms`}`);
        },
      );
    };
    if (later) this.retries.schedule(target.key, attempt);
    else attempt();
  }

  async #dial(target: DialTarget): Promise<void> {
    const { libp2p, raw, stopSignal } = this.#host;
    const signal = AbortSignal.any([stopSignal, AbortSignal.timeout(DIAL_TIMEOUT_MS)]);
    if (target.peerId === undefined) {
      await libp2p.dial(target.addresses, { signal });
      return;
    }
    // Stored addresses are read again at each attempt: identify may have learned new ones.
    const peerId = target.peerId;
    const stored = listKnownPeers(raw).find((p) => p.peerId === peerId)?.addresses ?? [];
    // The user's relays know the user's devices: a known peer holding a reservation on one of them
    // is reachable at `<relay>/p2p-circuit/p2p/<peer>` wherever it is. libp2p dials relayed
    // addresses after direct ones.
    const viaRelays = this.#host.config.relayServers.map((relay) => `${relay.toString()}/p2p-circuit`);
    const addresses = [...new Set([...target.addresses.map(String), ...stored, ...viaRelays].map((a) => withPeer(a, peerId)))];
    const id = peerIdFromString(peerId);
    if (addresses.length > 0) await libp2p.peerStore.merge(id, { multiaddrs: parseAll(addresses) });
    await libp2p.dial(id, { signal });
  }
}

/** The address without a trailing `/p2p/<peerId>`: how ahenk_peers stores it. */
export function stripPeer(address: Multiaddr, peerId: string): string {
  const text = address.toString();
  const suffix = `/p2p/${peerId}`;
  return text.endsWith(suffix) ? text.slice(0, -suffix.length) : text;
}

export function withPeer(address: string, peerId: string): string {
  return address.endsWith(`/p2p/${peerId}`) ? address : `${address}/p2p/${peerId}`;
}

function parseAll(addresses: readonly string[]): Multiaddr[] {
  const parsed: Multiaddr[] = [];
  for (const address of addresses) {
    try {
      parsed.push(multiaddr(address));
    } catch {
      // An unparsable stored address is skipped; the others may still work.
    }
  }
  return parsed;
}

/** Peer ids on the device list (authorization is checked by the caller). */
function listedDevices(raw: SqliteConnection): string[] {
  const rows = raw.prepare('SELECT DISTINCT peer_id FROM ahenk_devices WHERE peer_id IS NOT NULL').all() as { peer_id: string }[];
  return rows.map((row) => row.peer_id);
}
