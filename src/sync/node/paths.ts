/**
 * Which path each connected peer is reached by: direct (its own address), relayed (a relay's
 * circuit) or hole-punched (a direct connection that replaced a relayed one, which our own dial
 * of the peer's known address did not make: DCUtR did). Status, events and logs read it here.
 */
import './polyfill.ts';
import type { Connection, Libp2p } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import type { PeerPath } from './events.ts';

export class PeerPaths {
  readonly #libp2p: Libp2p;
  /** How the peer's current direct connection came about; absent while only a relay reaches it. */
  readonly #direct = new Map<string, 'direct' | 'hole-punched'>();
  /** Peers this node is dialling directly itself: a connection from such a dial is not a punched hole. */
  readonly #ownDials = new Map<string, number>();

  constructor(libp2p: Libp2p) {
    this.#libp2p = libp2p;
  }

  pathOf(peerId: string): PeerPath {
    const open = this.#libp2p.getConnections(peerIdFromString(peerId)).filter((c) => c.status === 'open');
    if (open.length > 0 && open.every((c) => c.limits !== undefined)) return 'relayed';
    return this.#direct.get(peerId) ?? 'direct';
  }

  /** Records a new connection; returns the change of path, if it changed. */
  opened(connection: Connection): { path: PeerPath; previous?: PeerPath } | undefined {
    const peerId = connection.remotePeer.toString();
    const others = this.#libp2p.getConnections(connection.remotePeer).filter((c) => c !== connection && c.status === 'open');
    const previous = others.length === 0 ? undefined : this.pathOf(peerId);
    if (connection.limits === undefined) {
      const upgrade = others.length > 0 && others.every((c) => c.limits !== undefined) && !this.#ownDials.has(peerId);
      if (upgrade) this.#direct.set(peerId, 'hole-punched');
      else if (others.every((c) => c.limits !== undefined)) this.#direct.set(peerId, 'direct');
    }
    const path = this.pathOf(peerId);
    if (path === previous) return undefined;
    return previous === undefined ? { path } : { path, previous };
  }

  /** The peer has no connection left. */
  closed(peerId: string): void {
    this.#direct.delete(peerId);
  }

  /** Marks a direct dial of our own to `peerId`; call the returned function when it settles. */
  dialingDirectly(peerId: string): () => void {
    this.#ownDials.set(peerId, (this.#ownDials.get(peerId) ?? 0) + 1);
    return () => {
      const left = (this.#ownDials.get(peerId) ?? 1) - 1;
      if (left <= 0) this.#ownDials.delete(peerId);
      else this.#ownDials.set(peerId, left);
    };
  }
}
