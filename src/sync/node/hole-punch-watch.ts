/**
 * Says when no hole was punched. libp2p's DCUtR reports neither success nor failure (its failures
 * go to its debug log only), so after our own direct dial to a relayed peer fails, the node waits
 * for DCUtR's attempts to run out; if the peer is still reached only through a relay then, it logs
 * it and emits `peer:direct-failed`: sync stays on the relay. A hole punched meanwhile shows as a
 * `peer:path` change to `hole-punched` instead.
 */
import type { PeerPath } from './events.ts';

export interface HolePunchWatchHost {
  pathOf(peerId: string): PeerPath;
  isConnected(peerId: string): boolean;
  report(peerId: string, dialError: string, waitedMs: number): void;
  stopSignal: AbortSignal;
}

export class HolePunchWatch {
  readonly #host: HolePunchWatchHost;
  readonly #waitMs: number;
  readonly #pending = new Map<string, NodeJS.Timeout>();

  constructor(host: HolePunchWatchHost, waitMs: number) {
    this.#host = host;
    this.#waitMs = waitMs;
    host.stopSignal.addEventListener('abort', () => {
      for (const timer of this.#pending.values()) clearTimeout(timer);
      this.#pending.clear();
    }, { once: true });
  }

  /** Our direct dial to a peer reached only through a relay failed with `dialError`. */
  directDialFailed(peerId: string, dialError: string): void {
    if (this.#pending.has(peerId) || this.#host.stopSignal.aborted) return;
    const timer = setTimeout(() => {
      this.#pending.delete(peerId);
      if (this.#host.isConnected(peerId) && this.#host.pathOf(peerId) === 'relayed') this.#host.report(peerId, dialError, this.#waitMs);
    }, this.#waitMs);
    timer.unref();
    this.#pending.set(peerId, timer);
  }
}
