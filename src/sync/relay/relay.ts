/**
 * createRelayNode: a circuit-relay-v2 relay for an always-on machine (a VPS, a NAS). It serves
 * only the devices its operator admitted: any other peer is refused once Noise has told who it
 * is, before it can reserve a slot or open a circuit. It keeps a key (a stable PeerId) and the
 * admitted device ids in its state file and nothing else: the circuits it carries are Noise
 * sessions between the devices, ciphertext to the relay.
 */
import '../node/polyfill.ts';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { autoNAT } from '@libp2p/autonat';
import { circuitRelayServer, type CircuitRelayService } from '@libp2p/circuit-relay-v2';
import { identify } from '@libp2p/identify';
import type { Libp2p, PeerId } from '@libp2p/interface';
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id';
import { ping } from '@libp2p/ping';
import { tcp } from '@libp2p/tcp';
import { webSockets } from '@libp2p/websockets';
import { createLibp2p } from 'libp2p';
import { NodeConfigError, NodeStoppedError } from '../node/errors.ts';
import { cancelLibp2pShutdownTimers } from '../node/libp2p.ts';
import { resolveRelayConfig, type RelayConfig, type ResolvedRelayConfig } from './config.ts';
import { MAX_ADMITTED_PEERS } from './constants.ts';
import { formatRelayStats, RelayCounters, type RelayStats } from './counters.ts';
import { isPeerId, loadOrCreateState, saveState, type AdmittedPeer, type RelayState } from './state.ts';

/** Starts a relay; resolves once it listens. Stop it with `stop()`. */
export async function createRelayNode(config: RelayConfig): Promise<RelayNode> {
  const resolved = resolveRelayConfig(config);
  const { state, created } = await loadOrCreateState(resolved.stateFile);
  const relay = new RelayNode(resolved, state);
  for (const peerId of resolved.admit) relay.admit(peerId);
  await relay.start(created);
  return relay;
}

export class RelayNode {
  readonly #config: ResolvedRelayConfig;
  readonly #state: RelayState;
  readonly #admitted: Map<string, AdmittedPeer>;
  readonly #counters = new RelayCounters();
  #libp2p: Libp2p<{ relay: CircuitRelayService }> | undefined;
  #interval: NodeJS.Timeout | undefined;
  #stopped: Promise<void> | undefined;

  /** Use createRelayNode. */
  constructor(config: ResolvedRelayConfig, state: RelayState) {
    this.#config = config;
    this.#state = state;
    this.#admitted = new Map(state.admitted.map((p) => [p.peerId, p]));
  }

  /** Builds and starts libp2p; called by createRelayNode. */
  async start(created: boolean): Promise<void> {
    const config = this.#config;
    const refuse = (kind: 'connections' | 'reservations' | 'circuits', peer: PeerId, why: string): boolean => {
      this.#counters.refused[kind] += 1;
      config.log(`refused ${why} ${peer.toString()}: not admitted`);
      return true;
    };
    this.#libp2p = await createLibp2p({
      privateKey: this.#state.privateKey,
      addresses: { listen: config.listenAddresses.map(String), announce: config.announceAddresses.map(String) },
      transports: [tcp(), webSockets()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      metrics: () => this.#counters.metrics(),
      connectionGater: {
        // Private addresses are where a home relay's devices live; the default gater refuses them.
        denyDialMultiaddr: () => false,
        denyInboundEncryptedConnection: (peer) => !this.isAdmitted(peer.toString()) && refuse('connections', peer, 'a connection from'),
        denyInboundRelayReservation: (peer) => {
          if (!this.isAdmitted(peer.toString())) return refuse('reservations', peer, 'a reservation for');
          this.#counters.reservationsGranted += 1;
          return false;
        },
        denyOutboundRelayedConnection: (source, destination) =>
          (!this.isAdmitted(source.toString()) && refuse('circuits', source, 'a circuit from')) ||
          (!this.isAdmitted(destination.toString()) && refuse('circuits', destination, 'a circuit to')),
      },
      services: {
        identify: identify(),
        ping: ping(),
        autoNAT: autoNAT(),
        relay: circuitRelayServer({
          maxInboundHopStreams: config.maxCircuitsPerPeer,
          reservations: {
            maxReservations: config.maxReservations,
            reservationTtl: config.reservationTtlMs,
            defaultDurationLimit: config.circuitDurationMs,
            defaultDataLimit: config.circuitBytes,
          },
        }),
      },
    });
    if (this.#libp2p.getMultiaddrs().length === 0) {
      await this.stop();
      throw new NodeConfigError(`the relay could not listen on ${config.listenAddresses.join(', ')}`);
    }
    config.log(`relay ${this.peerId} ${created ? 'created a new key in' : 'loaded its key from'} ${config.stateFile}`);
    for (const address of this.getMultiaddrs()) config.log(`relay listening on ${address}`);
    config.log(`relay admits ${this.#admitted.size} device${this.#admitted.size === 1 ? '' : 's'}`);
    if (config.statusIntervalMs > 0) {
      this.#interval = setInterval(() => config.log(formatRelayStats(this.stats())), config.statusIntervalMs);
      this.#interval.unref();
    }
  }

  /** The relay's PeerId, the same after every restart with the same state file. */
  get peerId(): string {
    return peerIdFromPrivateKey(this.#state.privateKey).toString();
  }

  /** The underlying libp2p node, for diagnostics; the relay owns its lifecycle. */
  get libp2p(): Libp2p {
    return this.#libp2pOrThrow();
  }

  /** The addresses devices use, with `/p2p/<relay id>`: give one of them to each device's `relayServers`. */
  getMultiaddrs(): string[] {
    return this.#libp2pOrThrow().getMultiaddrs().map(String);
  }

  stats(): RelayStats {
    const reservations = this.#libp2p?.services.relay.reservations.size ?? 0;
    return this.#counters.snapshot(reservations, this.#admitted.size);
  }

  isAdmitted(peerId: string): boolean {
    return this.#admitted.has(peerId);
  }

  /** The admitted devices, oldest first. */
  admitted(): AdmittedPeer[] {
    return [...this.#admitted.values()].map((p) => ({ ...p }));
  }

  /** Admits a device (its peer id, as `ahenk status` shows it) and records it in the state file. */
  admit(peerId: string): void {
    if (!isPeerId(peerId)) throw new NodeConfigError(`${JSON.stringify(peerId)} is not a peer id`);
    if (this.#admitted.has(peerId)) return;
    if (this.#admitted.size >= MAX_ADMITTED_PEERS) throw new NodeConfigError(`the relay admits at most ${MAX_ADMITTED_PEERS} devices`);
    this.#admitted.set(peerId, { peerId, admittedAt: Date.now() });
    this.#save();
    this.#config.log(`admitted ${peerId}`);
  }

  /** Stops serving a device: removes it from the state file and closes its connections (and circuits). */
  async revoke(peerId: string): Promise<void> {
    if (!this.#admitted.delete(peerId)) return;
    this.#save();
    this.#config.log(`revoked ${peerId}`);
    const libp2p = this.#libp2p;
    if (libp2p === undefined) return;
    const id = peerIdFromString(peerId);
    libp2p.services.relay.reservations.delete(id);
    await libp2p.hangUp(id).catch(() => {});
  }

  /** Stops listening and drops every circuit; safe to call more than once. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      clearInterval(this.#interval);
      const libp2p = this.#libp2p;
      if (libp2p === undefined) return;
      await libp2p.stop();
      cancelLibp2pShutdownTimers(libp2p);
    })();
    return this.#stopped;
  }

  #save(): void {
    this.#state.admitted = [...this.#admitted.values()];
    saveState(this.#config.stateFile, this.#state);
  }

  #libp2pOrThrow(): Libp2p<{ relay: CircuitRelayService }> {
    if (this.#libp2p === undefined) throw new NodeStoppedError('the relay has not started');
    return this.#libp2p;
  }
}
