/**
 * What the node learns about reaching its peers, and what it does when its own network changes.
 * Addresses come from three places: the one this node dialled and got through, what an authorized
 * peer announces in identify (validated and bounded first), and the pairing code (new-device.ts).
 * A device being paired announces itself before it is on the device list: what it said is held
 * until its first session starts, and dropped if it disconnects first.
 */
import type { Connection, IdentifyResult, Libp2p } from '@libp2p/interface';
import type { SqliteConnection } from '../../sqlite/index.ts';
import type { ResolvedConfig } from './config.ts';
import type { PeerDialer } from './dialer.ts';
import type { NetworkChangeEvent } from './events.ts';
import { NetworkWatcher, type NetworkChange } from './network-watch.ts';
import { recordAddressWorked, rememberPeer, validPeerAddresses } from './peer-store.ts';

export interface ReachabilityHost {
  libp2p: Libp2p;
  raw: SqliteConnection;
  config: ResolvedConfig;
  dialer: PeerDialer;
  stopSignal: AbortSignal;
  isAuthorized(peerId: string): boolean;
  networkChanged(event: NetworkChangeEvent): void;
}

export class Reachability {
  readonly #host: ReachabilityHost;
  readonly #network: NetworkWatcher;
  /** What connected peers not yet on the device list announced, by peer. */
  readonly #announced = new Map<string, string[]>();

  constructor(host: ReachabilityHost) {
    this.#host = host;
    this.#network = new NetworkWatcher({ intervalMs: host.config.networkCheckIntervalMs, onChange: (change) => this.#networkChanged(change) });
  }

  start(): void {
    this.#network.start();
  }

  stop(): void {
    this.#network.stop();
    this.#announced.clear();
  }

  /**
   * An address this node dialled and got through is the freshest way to the peer. An inbound
   * connection's remote port is the peer's outgoing one, which nobody can dial: not kept.
   */
  connectionOpened(connection: Connection): void {
    const peerId = connection.remotePeer.toString();
    if (connection.direction !== 'outbound' || !this.#host.isAuthorized(peerId)) return;
    const [address] = validPeerAddresses(peerId, [connection.remoteAddr]);
    if (address !== undefined) recordAddressWorked(this.#host.raw, peerId, address);
  }

  /** Keeps what an authorized peer announced (held for one being paired); returns the valid addresses. */
  identified(result: IdentifyResult): string[] {
    const peerId = result.peerId.toString();
    const addresses = validPeerAddresses(peerId, result.listenAddrs);
    if (this.#host.isAuthorized(peerId)) rememberPeer(this.#host.raw, peerId, addresses);
    else if (this.#host.libp2p.getConnections(result.peerId).length > 0) this.#announced.set(peerId, addresses);
    return addresses;
  }

  /** A session started: a peer that was paired meanwhile is on the list now, and what it announced is kept. */
  sessionStarted(peerId: string): void {
    const addresses = this.#announced.get(peerId);
    if (addresses === undefined || !this.#host.isAuthorized(peerId)) return;
    this.#announced.delete(peerId);
    rememberPeer(this.#host.raw, peerId, addresses);
  }

  disconnected(peerId: string): void {
    this.#announced.delete(peerId);
  }

  /**
   * An interface or address came or went: tell connected peers where this node listens now (an
   * identify push; a 0.0.0.0 listener already answers on the new address, but peers learn it only
   * from identify), and dial the known peers that are not connected, earlier failures forgotten.
   */
  #networkChanged(change: NetworkChange): void {
    const { libp2p, config, stopSignal } = this.#host;
    if (stopSignal.aborted) return;
    const entries = [...change.added.map((e) => `+${e}`), ...change.removed.map((e) => `-${e}`)];
    config.log(`network changed (${entries.join(', ')}); announcing ${libp2p.getMultiaddrs().join(', ')} and dialling known peers`);
    this.#host.networkChanged({ added: change.added, removed: change.removed });
    const push = (libp2p.services as { identifyPush?: { push(): Promise<void> } }).identifyPush;
    void push?.push().catch(() => {});
    this.#host.dialer.networkChanged();
  }
}
