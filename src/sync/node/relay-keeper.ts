/**
 * Keeps the configured relays connected. libp2p drops a configured relay's reservation for good
 * when its connection closes; this dials a relay that went away again, with backoff, until it
 * answers, and the node's bare `/p2p-circuit` listener then reserves a slot on it again.
 */
import type { Libp2p } from '@libp2p/interface';
import type { Multiaddr } from '@multiformats/multiaddr';
import type { BackoffTimers } from './backoff.ts';
import type { ResolvedConfig } from './config.ts';
import { DIAL_TIMEOUT_MS } from './constants.ts';

export interface RelayKeeperHost {
  libp2p: Libp2p;
  config: ResolvedConfig;
  retries: BackoffTimers;
  stopSignal: AbortSignal;
}

export class RelayKeeper {
  readonly #host: RelayKeeperHost;
  readonly #relays: Map<string, Multiaddr>;

  constructor(host: RelayKeeperHost) {
    this.#host = host;
    this.#relays = new Map();
    for (const relay of host.config.relayServers) {
      const peerId = relay.getComponents().findLast((c) => c.name === 'p2p')?.value;
      if (peerId !== undefined) this.#relays.set(peerId, relay);
    }
  }

  /** A peer disconnected: if it is a configured relay, dial it again until it answers. */
  disconnected(peerId: string): void {
    const relay = this.#relays.get(peerId);
    if (relay === undefined) return;
    const { libp2p, config, retries, stopSignal } = this.#host;
    const key = `relay:${peerId}`;
    config.log(`lost the relay ${peerId}; dialling it again`);
    const attempt = (): void => {
      if (stopSignal.aborted || libp2p.getConnections().some((c) => c.remotePeer.toString() === peerId)) return;
      void libp2p.dial(relay, { signal: AbortSignal.any([stopSignal, AbortSignal.timeout(DIAL_TIMEOUT_MS)]) }).then(
        () => {
          retries.reset(key);
          config.log(`reconnected to the relay ${peerId}`);
        },
        (error: unknown) => {
          if (stopSignal.aborted) return;
          const delay = retries.schedule(key, attempt);
          config.log(`dial to the relay ${peerId} failed (${(error as Error).message}); retry in ${delay} ms`);
        },
      );
    };
    retries.schedule(key, attempt);
  }
}
