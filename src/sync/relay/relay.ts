/**
 * createRelayNode: a circuit-relay-v2 relay for an always-on machine (a VPS, a NAS). It serves
 * only the devices its operator admitted, by id or because they presented its join token: any
 * other peer may stay connected for a few seconds to present the token (on
 * `/ahenk/relay-admit/1.0.0`) and can neither reserve a slot nor open a circuit. It keeps a key (a
 * stable PeerId), the token and the admitted device ids in its state file and nothing else: the
 * circuits it carries are Noise sessions between the devices, ciphertext to the relay.
 */
import '../node/polyfill.ts';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { autoNAT } from '@libp2p/autonat';
import { circuitRelayServer, type CircuitRelayService } from '@libp2p/circuit-relay-v2';
import { identify } from '@libp2p/identify';
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface';
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id';
import { ping } from '@libp2p/ping';
import { tcp } from '@libp2p/tcp';
import { webSockets } from '@libp2p/websockets';
import { createLibp2p } from 'libp2p';
import { NodeConfigError, NodeStoppedError } from '../node/errors.ts';
import { cancelLibp2pShutdownTimers } from '../node/libp2p.ts';
import { resolveRelayConfig, type RelayConfig, type ResolvedRelayConfig } from './config.ts';
import { Admission } from './admission.ts';
import { serveAdmitStream } from './admit-protocol.ts';
import { MAX_STRANGER_CONNECTIONS, RELAY_ADMIT_PROTOCOL } from './constants.ts';
import { formatRelayStats, RelayCounters, type RelayStats } from './counters.ts';
import { loadOrCreateState, type AdmittedPeer, type LoadedState } from './state.ts';

/** Starts a relay; resolves once it listens. Stop it with `stop()`. */
export async function createRelayNode(config: RelayConfig): Promise<RelayNode> {
  const resolved = resolveRelayConfig(config);
  const loaded = await loadOrCreateState(resolved.stateFile);
  const relay = new RelayNode(resolved, loaded);
  for (const peerId of resolved.admit) relay.admit(peerId);
  await relay.start(loaded.created);
  return relay;
}

export class RelayNode {
  readonly #config: ResolvedRelayConfig;
  readonly #loaded: LoadedState;
  readonly #admission: Admission;
  readonly #counters = new RelayCounters();
  /** A stranger's join window, by connection id: cleared when its connection closes first. */
  readonly #strangerTimers = new Map<string, NodeJS.Timeout>();
  #libp2p: Libp2p<{ relay: CircuitRelayService }> | undefined;
  #interval: NodeJS.Timeout | undefined;
  #stopped: Promise<void> | undefined;

  /** Use createRelayNode. */
  constructor(config: ResolvedRelayConfig, loaded: LoadedState) {
    this.#config = config;
    this.#loaded = loaded;
    this.#admission = new Admission(loaded.state, { stateFile: config.stateFile, log: config.log });
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
      privateKey: this.#loaded.state.privateKey,
      addresses: { listen: config.listenAddresses.map(String), announce: config.announceAddresses.map(String) },
      transports: [tcp(), webSockets()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      metrics: () => this.#counters.metrics(),
      connectionGater: {
        // Private addresses are where a home relay's devices live; the default gater refuses them.
        denyDialMultiaddr: () => false,
        // A stranger may connect to present the join token, a few at a time and for a few seconds.
        denyInboundEncryptedConnection: (peer) => !this.isAdmitted(peer.toString()) && this.#strangerCount() >= MAX_STRANGER_CONNECTIONS && refuse('connections', peer, 'a connection from'),
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
    this.#libp2p.addEventListener('connection:open', (event) => this.#watchStranger(event.detail));
    this.#libp2p.addEventListener('connection:close', (event) => this.#forgetStranger(event.detail));
    await this.#libp2p.handle(RELAY_ADMIT_PROTOCOL, (stream, connection) => void this.#onAdmitStream(stream, connection), { maxInboundStreams: 1 });
    if (this.#libp2p.getMultiaddrs().length === 0) {
      await this.stop();
      throw new NodeConfigError(`the relay could not listen on ${config.listenAddresses.join(', ')}`);
    }
    config.log(`relay ${this.peerId} ${created ? 'created a new key in' : 'loaded its key from'} ${config.stateFile}`);
    for (const address of this.getMultiaddrs()) config.log(`relay listening on ${address}`);
    config.log(`relay admits ${this.#admission.size} device${this.#admission.size === 1 ? '' : 's'}`);
    if (config.statusIntervalMs > 0) {
      this.#interval = setInterval(() => config.log(formatRelayStats(this.stats())), config.statusIntervalMs);
      this.#interval.unref();
    }
  }

  /** The relay's PeerId, the same after every restart with the same state file. */
  get peerId(): string {
    return peerIdFromPrivateKey(this.#loaded.state.privateKey).toString();
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
    return this.#counters.snapshot(reservations, this.#admission.size, this.#admission.refusedJoins);
  }

  isAdmitted(peerId: string): boolean {
    return this.#admission.has(peerId);
  }

  /** The admitted devices, oldest first. */
  admitted(): AdmittedPeer[] {
    return this.#admission.list();
  }

  /**
   * The secret a device presents once to be admitted (`joinRelay`, `ahenk relay add`). Kept in the
   * state file; the relay never logs it.
   */
  get joinToken(): string {
    return this.#admission.joinToken;
  }

  /** True when the join token was made at this start (a new state file): the one time to show it unasked. */
  get joinTokenCreated(): boolean {
    return this.#loaded.tokenCreated;
  }

  /** Makes a new join token (the old one admits nobody from now on) and returns it. */
  rotateJoinToken(): string {
    return this.#admission.rotateJoinToken();
  }

  /** Admits a device (its peer id, as `ahenk status` shows it), also one revoked before; recorded in the state file. */
  admit(peerId: string): void {
    this.#admission.admit(peerId);
  }

  /**
   * Stops serving a device: removes it from the state file, remembers it as revoked (the join token
   * does not admit it again) and closes its reservation, connections and the circuits through them.
   */
  async revoke(peerId: string): Promise<void> {
    this.#admission.revoke(peerId);
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
      for (const timer of this.#strangerTimers.values()) clearTimeout(timer);
      this.#strangerTimers.clear();
      const libp2p = this.#libp2p;
      if (libp2p === undefined) return;
      await libp2p.stop();
      cancelLibp2pShutdownTimers(libp2p);
    })();
    return this.#stopped;
  }

  #strangerCount(): number {
    return this.#libp2p?.getConnections().filter((c) => !this.isAdmitted(c.remotePeer.toString())).length ?? 0;
  }

  /** A connection from a peer not admitted is closed after the stranger window unless it joined meanwhile. */
  #watchStranger(connection: Connection): void {
    if (this.isAdmitted(connection.remotePeer.toString())) return;
    const timer = setTimeout(() => {
      this.#strangerTimers.delete(connection.id);
      if (!this.isAdmitted(connection.remotePeer.toString())) void connection.close().catch(() => {});
    }, this.#config.joinWindowMs);
    timer.unref();
    this.#strangerTimers.set(connection.id, timer);
  }

  /** A connection closed within its join window: its timer (and the connection it holds) goes. */
  #forgetStranger(connection: Connection): void {
    const timer = this.#strangerTimers.get(connection.id);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.#strangerTimers.delete(connection.id);
  }

  /** Join windows still running (a stranger's connection open, not yet admitted or closed). */
  get strangersWaiting(): number {
    return this.#strangerTimers.size;
  }

  async #onAdmitStream(stream: Stream, connection: Connection): Promise<void> {
    const peerId = connection.remotePeer.toString();
    const address = addressOf(connection);
    const answer = await serveAdmitStream(stream, (token) => this.#admission.decide(peerId, address, token)).catch(() => undefined);
    // A refused peer has had its one try on this connection.
    if (answer !== undefined && answer.status !== 'ADMITTED') await connection.close().catch(() => {});
  }

  #libp2pOrThrow(): Libp2p<{ relay: CircuitRelayService }> {
    if (this.#libp2p === undefined) throw new NodeStoppedError('the relay has not started');
    return this.#libp2p;
  }
}

/** The remote's IP address (what bounds a guesser: a peer id costs nothing to make). */
function addressOf(connection: Connection): string {
  const ip = connection.remoteAddr.getComponents().find((c) => c.name === 'ip4' || c.name === 'ip6' || c.name === 'dns4' || c.name === 'dns6' || c.name === 'dns');
  return ip?.value ?? connection.remoteAddr.toString();
}
