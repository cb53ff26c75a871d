/**
 * The events a sync node emits, and a small typed emitter for them. Node's EventEmitter throws
 * when 'error' has no listener; a sync node reports failures of one peer without taking the
 * app down, so listeners are optional here.
 */

export interface PeerConnectEvent {
  peerId: string;
  /** On this user's device list and not revoked: only such peers sync. */
  authorized: boolean;
  /** The remote address of the connection that was just opened. */
  address: string;
  /** How the peer is reached now. */
  path: PeerPath;
}

/**
 * How a peer is reached: `direct` over its own address, `relayed` through a relay's circuit,
 * `hole-punched` over a direct connection that replaced a relayed one without our dialling its
 * known address (DCUtR).
 */
export type PeerPath = 'direct' | 'relayed' | 'hole-punched';

/** The path to a peer changed (first connection, a relay's circuit, an upgrade to direct). */
export interface PeerPathEvent {
  peerId: string;
  path: PeerPath;
  /** The path before, when the peer was connected already. */
  previous?: PeerPath;
}

/**
 * A peer stays reached only through a relay: this node's direct dial to its announced addresses
 * failed, and DCUtR did not punch a hole within its attempts. Sync runs on over the relay.
 */
export interface PeerDirectFailedEvent {
  peerId: string;
  /** Why the direct dial failed. */
  error: string;
  /** How long DCUtR was given after that, in milliseconds. */
  waitedMs: number;
}

export interface PeerDisconnectEvent {
  peerId: string;
}

export interface PeerDiscoveryEvent {
  peerId: string;
  addresses: string[];
  authorized: boolean;
}

/** One address the dialer tried, and why it failed. */
export interface DialFailure {
  address: string;
  error: string;
}

/** A known peer could not be reached at any of its remembered addresses in one attempt. */
export interface PeerUnreachableEvent {
  peerId: string;
  /** The addresses tried, freshest first, each with the reason it failed. */
  tried: DialFailure[];
  /** Addresses left out of this attempt because they failed recently, with when each may be tried again (Unix ms). */
  backedOff: { address: string; retryAt: number }[];
  /** When the next attempt runs, if one is scheduled. */
  retryInMs?: number;
}

/** The machine's interfaces or addresses changed (`<interface> <address>` entries). */
export interface NetworkChangeEvent {
  added: string[];
  removed: string[];
}

export interface SyncStartEvent {
  peerId: string;
  /** 'local' when this node opened the sync stream. */
  initiator: 'local' | 'remote';
}

export interface SyncProgressEvent {
  peerId: string;
  direction: 'send' | 'receive';
  /** Entries and bytes so far in this direction of this session. */
  entries: number;
  bytes: number;
  /** How many entries this direction will carry in the catch-up, when the sender knows. */
  totalEntries?: number;
}

export interface SyncCompleteEvent {
  peerId: string;
  sent: number;
  received: number;
  bytesSent: number;
  bytesReceived: number;
  durationMs: number;
}

/**
 * A peer on this device's list refused it because this device's key is revoked on the peer's
 * list. The node stops syncing (its unsynced writes stay in the database); a new identity
 * (`resetIdentity`, `ahenk reset-identity`) and a new pairing bring the device back.
 */
export interface DeviceRevokedEvent {
  /** The peer that said so. */
  peerId: string;
  /** When this device learned it (Unix ms). */
  at: number;
}

/**
 * Clock drift, seen from this device. 'peer-ahead': writes that `peerId`'s session delivered
 * carry stamps further ahead of this device's wall clock than the allowance (that device's clock
 * or HLC runs ahead, or this device's clock runs behind); they are held back and applied by the
 * node once they are inside it, at `dueAt`. 'local-ahead': this device's stamps run ahead: with
 * no `peerId`, its own stamps are ahead of its own wall clock by more than the allowance (its
 * clock was fast once); with `peerId`, that peer says it holds this device's writes back because
 * they are `aheadMs` ahead of the peer's clock (this device's clock or stamps run ahead, or the
 * peer's clock runs behind).
 */
export interface ClockDriftEvent {
  direction: 'peer-ahead' | 'local-ahead';
  /** 'peer-ahead': the peer whose session delivered the held writes; 'local-ahead': the peer that holds ours, if a peer told. */
  peerId?: string;
  /** The device that stamped the furthest-ahead held write: peerId, or a device it relays ('peer-ahead' only). */
  device?: string;
  /** How far ahead of this device's wall clock (ms). */
  aheadMs: number;
  /** The allowance (P2PConfig.maxDriftMs). */
  maxDriftMs: number;
  /** Writes held back since the last report for this peer ('peer-ahead'; 0 for 'local-ahead'). */
  held: number;
  /** This device's wall-clock time (Unix ms) when the furthest-ahead write comes inside the allowance. */
  dueAt: number;
}

export interface SyncErrorEvent {
  error: Error;
  /** The peer the failure concerns, when it concerns one. */
  peerId?: string;
}

export interface SyncNodeEvents {
  'peer:connect': PeerConnectEvent;
  'peer:disconnect': PeerDisconnectEvent;
  'peer:discovery': PeerDiscoveryEvent;
  'peer:unreachable': PeerUnreachableEvent;
  'network:change': NetworkChangeEvent;
  'peer:path': PeerPathEvent;
  'peer:direct-failed': PeerDirectFailedEvent;
  'sync:start': SyncStartEvent;
  'sync:progress': SyncProgressEvent;
  'sync:complete': SyncCompleteEvent;
  'device:revoked': DeviceRevokedEvent;
  'clock:drift': ClockDriftEvent;
  error: SyncErrorEvent;
}

export type SyncNodeEventName = keyof SyncNodeEvents;
export type SyncNodeListener<K extends SyncNodeEventName> = (event: SyncNodeEvents[K]) => void;

export class SyncNodeEmitter {
  readonly #listeners = new Map<SyncNodeEventName, Set<(event: never) => void>>();

  /** Adds a listener; the returned function removes it. */
  on<K extends SyncNodeEventName>(name: K, listener: SyncNodeListener<K>): () => void {
    let set = this.#listeners.get(name);
    if (set === undefined) this.#listeners.set(name, (set = new Set()));
    set.add(listener);
    return () => this.off(name, listener);
  }

  off<K extends SyncNodeEventName>(name: K, listener: SyncNodeListener<K>): void {
    this.#listeners.get(name)?.delete(listener);
  }

  /** The next event of that name that passes `filter`; rejects when `signal` aborts. */
  once<K extends SyncNodeEventName>(
    name: K,
    options: { filter?: (event: SyncNodeEvents[K]) => boolean; signal?: AbortSignal } = {},
  ): Promise<SyncNodeEvents[K]> {
    return new Promise((resolve, reject) => {
      const { signal, filter } = options;
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = (): void => {
        off();
        reject(signal?.reason);
      };
      const off = this.on(name, (event) => {
        if (filter && !filter(event)) return;
        off();
        signal?.removeEventListener('abort', onAbort);
        resolve(event);
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  listenerCount(name: SyncNodeEventName): number {
    return this.#listeners.get(name)?.size ?? 0;
  }

  /** Calls every listener; a listener that throws is reported as an 'error' event, not rethrown. */
  emit<K extends SyncNodeEventName>(name: K, event: SyncNodeEvents[K]): void {
    const set = this.#listeners.get(name);
    if (set === undefined) return;
    for (const listener of [...set]) {
      try {
        (listener as SyncNodeListener<K>)(event);
      } catch (error) {
        if (name !== 'error') this.emit('error', { error: error instanceof Error ? error : new Error(String(error)) });
      }
    }
  }

  removeAllListeners(): void {
    this.#listeners.clear();
  }
}

/** Starts a node made by its factory; if starting fails, stops it (timers, libp2p) and rethrows. */
export async function startedOrStopped<T extends { start(): Promise<void>; stop(): Promise<void> }>(node: T): Promise<T> {
  try {
    await node.start();
  } catch (error) {
    await node.stop();
    throw error;
  }
  return node;
}
