/**
 * The sync node of a web page: libp2p in the database worker, dialling Node devices (or a relay)
 * over WebSockets, with Noise, Yamux and identify, and the same /ahenk/sync sessions as a Node
 * SyncNode (src/sync/node/sessions.ts), reading and writing the worker's SQLite connection
 * directly. A page cannot listen, so this node only dials: `dial(address)` a device's `/ws`
 * address, and it is dialled again after a disconnect, with backoff, until the node stops.
 *
 * When the page lends the worker its WebRTC (rtc-shim.ts), the node also takes the circuit relay
 * and WebRTC transports: once it has dialled a relay it holds a reservation there, and other
 * browsers reach it at `<relay>/p2p-circuit/webrtc/p2p/<id>`: signalling over the relayed
 * circuit (Noise end to end), then a direct WebRTC connection, where its session moves.
 *
 * No Node built-in is reached from here (a lint rule): no TCP, mDNS, network watch or kept port.
 */
import '../node/polyfill.ts';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { identify } from '@libp2p/identify';
import type { Connection, Libp2p, PeerId } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { webSockets } from '@libp2p/websockets';
import { createLibp2p } from 'libp2p';
import { isOtherAuthorizedPeer } from '../../auth/devices.ts';
import { readIdentity } from '../../database/identity.ts';
import { connectionOf, type DatabaseHandle, type SqliteConnection } from '../../sqlite/index.ts';
import { SYNC_PROTOCOL } from '../protocol/constants.ts';
import { BackoffTimers } from '../node/backoff.ts';
import { resolveConfig, type P2PConfig, type ResolvedConfig } from '../node/config.ts';
import { dialAddress } from '../node/dialer.ts';
import { NodeConfigError, NodeStoppedError } from '../node/errors.ts';
import { startedOrStopped, SyncNodeEmitter, type SyncCompleteEvent } from '../node/events.ts';
import { HeldEntryRetry } from '../node/held-retry.ts';
import { rememberPeer } from '../node/peer-store.ts';
import { SyncSessions } from '../node/sessions.ts';
import { takeTurn, type DatabaseTurn } from '../session/turn.ts';
import type { RtcIceServer } from './rtc-messages.ts';
import { webRtcAvailable } from './rtc-shim.ts';

/**
 * The window of batches a page grants a sender (a Node device grants DEFAULT_WINDOW, 16). The
 * page's worker applies slowly (OPFS commits) and reads its connection in order: every batch in
 * flight is a frame that libp2p's pings wait behind. With 16, a 40k-row initial sync saw pings
 * through the worker take up to 3.8 s (the connection monitor closes at 5 s); with 8, up to 1.9 s,
 * and the sync ran no slower (3.1k against 2.3-3.0k rows/s, on a loaded machine).
 */
const WEB_RECEIVE_WINDOW = 8;

/** What a relay offers (circuit relay v2): a page that dialled one dials it again after it goes. */
const RELAY_HOP_PROTOCOL = '/libp2p/circuit/relay/0.2.0/hop';

/**
 * Devices not on the list that may hold a connection in at once while an invitation is shown: the
 * one accepting it, and a few more so that a stranger who saw the code cannot lock the real device
 * out; few enough that it cannot fill the page's 64 peer-connection slots.
 */
const MAX_STRANGERS_WHILE_INVITING = 4;

/**
 * How long a device not on the list stays connected in without having claimed the invitation: the
 * accepting device presents the nonce as soon as it connects (the invitee waits as long for it), so
 * a stranger cannot hold one of the few slots for the invitation's whole life.
 */
const STRANGER_GRACE_MS = 10_000;

/** WebRTC's signalling protocol (@libp2p/webrtc): each inbound stream makes one of the page's peer connections. */
const WEBRTC_SIGNALING_PROTOCOL = '/webrtc-signaling/0.0.1';

/** What a web sync node takes: the session and retry settings of P2PConfig (it neither listens nor discovers), and WebRTC's ICE servers. */
export type WebSyncConfig = Pick<
  P2PConfig,
  'live' | 'batchSize' | 'reconnect' | 'reconnectInitialDelayMs' | 'reconnectMaxDelayMs' | 'log' | 'maxDriftMs' | 'now'
> & {
  /**
   * STUN/TURN servers for WebRTC between browsers. None by default: no third party learns the
   * device's addresses; browsers on one network connect directly, others sync through the relay.
   * @default []
   */
  iceServers?: RtcIceServer[];
  /**
   * The connection is shared with tabs whose transactions span several requests: the browser
   * entry's leader (src/browser/leader.ts) passes itself, so a batch is never applied, nor a window
   * exported, inside a tab's open transaction. Leave it out where nothing else holds transactions.
   */
  databaseTurn?: DatabaseTurn;
};

/** A connected peer, as SyncNode.peers() describes it (a relay's circuit is `relayed`; WebSockets and WebRTC are `direct`). */
export interface WebConnectedPeer {
  peerId: string;
  addresses: string[];
  authorized: boolean;
  syncing: boolean;
  /** How the session (or else the best connection) reaches the peer: directly (WebSockets, WebRTC) or through a relay's circuit. */
  path: 'direct' | 'relayed';
}

/** Starts a web sync node for `db` (in the worker that holds the database). Stop it with `stop()`. */
export async function createWebSyncNode(db: DatabaseHandle, config: WebSyncConfig = {}): Promise<WebSyncNode> {
  const { databaseTurn, ...sessionConfig } = pickWebConfig(config);
  const resolved = resolveConfig({ ...sessionConfig, listenAddresses: ['/ip4/127.0.0.1/tcp/0'] });
  const raw = connectionOf(db);
  const identity = readIdentity(raw);
  if (identity === undefined) throw new NodeConfigError('this database has no device identity; open it with initializeDatabase first');
  const rtc = webRtcAvailable() ? await webRtcTransports(config.iceServers ?? []) : undefined;
  let node: WebSyncNode | undefined;
  const libp2p = await createLibp2p({
    privateKey: identity.privateKey,
    // `/p2p-circuit` asks every relay the node connects to for a reservation; `/webrtc` answers WebRTC dials through it.
    addresses: { listen: rtc === undefined ? [] : ['/p2p-circuit', '/webrtc'] },
    transports: [webSockets(), ...(rtc ?? [])],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() },
    connectionGater: {
      // A page dials loopback and LAN devices: libp2p's default gater refuses private addresses in a browser.
      denyDialMultiaddr: () => false,
      // Only the user's own devices may connect in (through a relay's circuit, then WebRTC): a
      // stranger is refused once Noise has proved its key, before it holds a connection or one of
      // the page's peer-connection slots. The page's own join dials out, so it needs no exception;
      // while it shows an invitation, the device accepting it (not listed yet) dials in (admitStrangers).
      denyInboundEncryptedConnection: (peer) => !isOtherAuthorizedPeer(raw, identity.deviceId, peer.toString()) && node?.admitsStranger() !== true,
    },
  });
  node = new WebSyncNode(db, raw, libp2p, { ...resolved, listenAddresses: [] }, databaseTurn);
  return startedOrStopped(node);
}

/**
 * The circuit relay and WebRTC transports, loaded only where they can run (a worker whose page
 * lends it WebRTC, or a page): a Node process never loads @libp2p/webrtc's native binding.
 */
async function webRtcTransports(iceServers: RtcIceServer[]) {
  const [{ circuitRelayTransport }, { webRTC }] = await Promise.all([import('@libp2p/circuit-relay-v2'), import('@libp2p/webrtc')]);
  return [circuitRelayTransport(), webRTC({ rtcConfiguration: { iceServers } })];
}

/** Only the fields a web node takes, so a P2PConfig passed whole cannot make it listen or discover. */
function pickWebConfig(config: WebSyncConfig): WebSyncConfig {
  const keys = ['live', 'batchSize', 'reconnect', 'reconnectInitialDelayMs', 'reconnectMaxDelayMs', 'log', 'maxDriftMs', 'now', 'iceServers', 'databaseTurn'] as const;
  const out: Record<string, unknown> = {};
  for (const key of keys) if (Object.hasOwn(config, key) && config[key] !== undefined) out[key] = config[key];
  return out as WebSyncConfig;
}

export class WebSyncNode extends SyncNodeEmitter {
  /** This device's id: the PeerId of the database's own key. */
  readonly peerId: string;
  readonly libp2p: Libp2p;
  readonly #raw: SqliteConnection;
  readonly #config: ResolvedConfig;
  readonly #sessions: SyncSessions;
  readonly #held: HeldEntryRetry;
  readonly #turn: DatabaseTurn | undefined;
  readonly #retries: BackoffTimers;
  readonly #stop = new AbortController();
  /** Where each peer `dial` reached is dialled again after a disconnect. */
  readonly #addresses = new Map<string, string>();
  readonly #detach: (() => void)[] = [];
  /** Invitations being shown (admitStrangers), each with who it keeps past STRANGER_GRACE_MS (the device pairing with it). */
  readonly #inviting = new Set<(peerId: string) => boolean>();
  readonly #graceTimers = new Set<ReturnType<typeof setTimeout>>();
  #stopped: Promise<void> | undefined;

  /** Use createWebSyncNode. */
  constructor(db: DatabaseHandle, raw: SqliteConnection, libp2p: Libp2p, config: ResolvedConfig, turn?: DatabaseTurn) {
    super();
    this.peerId = libp2p.peerId.toString();
    this.libp2p = libp2p;
    this.#raw = raw;
    this.#config = config;
    this.#turn = turn;
    this.#retries = new BackoffTimers({ initialDelayMs: config.reconnectInitialDelayMs, maxDelayMs: config.reconnectMaxDelayMs });
    this.#held = new HeldEntryRetry(raw, config, this, this.#stop.signal, turn);
    this.#sessions = new SyncSessions({
      db,
      raw,
      localPeerId: this.peerId,
      libp2p,
      config,
      events: this,
      isAuthorized: (peerId) => this.isAuthorized(peerId),
      sessionEnded: (peerId, error, progressed) => this.#sessionEnded(peerId, error, progressed),
      revokedBy: (peerId) => this.#config.log(`${peerId} refused this device as revoked`),
      ...(turn === undefined ? {} : { turn }),
      window: WEB_RECEIVE_WINDOW,
      ...this.#held.sessionHooks(),
    });
  }

  /** Registers /ahenk/sync and the connection listeners; called by createWebSyncNode. */
  async start(): Promise<void> {
    const signal = this.#stop.signal;
    // Sync runs over a relay's circuit too (limited), until a direct WebRTC connection takes it over.
    await this.libp2p.handle(SYNC_PROTOCOL, (stream, connection) => this.#sessions.accept(stream, connection, signal), { runOnLimitedConnection: true });
    // A device not on the list connects in only to accept an invitation: no WebRTC for it (each
    // signalling stream would take one of the page's peer connections, 32 streams a connection).
    this.libp2p.use(WEBRTC_SIGNALING_PROTOCOL, (stream, connection, next) => {
      if (stream.direction === 'inbound' && !this.isAuthorized(connection.remotePeer.toString())) throw new Error('WebRTC is for devices on the list');
      next(stream, connection);
    });
    this.#listen('connection:open', (connection: Connection) => this.#opened(connection));
    this.#listen('peer:disconnect', (id: PeerId) => this.#disconnected(id.toString()));
    this.#held.start();
  }

  /** Resolves when the database is free for this node's write (no tab's transaction open): pairing writes right after. */
  takeTurn(signal: AbortSignal): Promise<void> {
    return this.#turn === undefined ? Promise.resolve() : takeTurn(this.#turn, signal);
  }

  /** Aborts when the node stops (pairing's waits end with it). */
  get stopSignal(): AbortSignal {
    return this.#stop.signal;
  }

  isAuthorized(peerId: string): boolean {
    return isOtherAuthorizedPeer(this.#raw, this.peerId, peerId);
  }

  /**
   * While an invitation is shown, a device not on the list may connect in (at most
   * MAX_STRANGERS_WHILE_INVITING at once): the one that accepts the invitation is not listed yet.
   * Each is closed after STRANGER_GRACE_MS unless `keeps` says it is the one pairing, and none gets
   * WebRTC. Call the returned function when the invitation ends: inbound connections of devices
   * still not on the list are closed, and strangers are refused again.
   */
  admitStrangers(keeps: (peerId: string) => boolean = () => false): () => void {
    // A function of its own per call, so that two invitations with the same predicate count twice.
    const keep = (peerId: string) => keeps(peerId);
    this.#inviting.add(keep);
    return () => {
      if (!this.#inviting.delete(keep) || this.#inviting.size > 0) return;
      for (const connection of this.libp2p.getConnections()) {
        if (connection.direction === 'inbound' && !this.isAuthorized(connection.remotePeer.toString())) void connection.close().catch(() => {});
      }
    };
  }

  /** Whether one more device not on the list may connect in now. */
  admitsStranger(): boolean {
    if (this.#inviting.size === 0 || this.#stop.signal.aborted) return false;
    const strangers = this.libp2p.getConnections().filter((c) => c.direction === 'inbound' && !this.isAuthorized(c.remotePeer.toString())).length;
    return strangers < MAX_STRANGERS_WHILE_INVITING;
  }

  /**
   * Connects to a device's WebSocket address (`/ip4/…/tcp/…/ws/p2p/<id>`); resolves with its id.
   * Sync starts by itself when it is on this device's list; the address is dialled again after a
   * disconnect (with backoff) until `stop()`.
   */
  async dial(address: string, options: { signal?: AbortSignal } = {}): Promise<string> {
    this.#assertRunning();
    const peerId = await dialAddress(this.libp2p, address, this.#stop.signal, options.signal);
    this.#addresses.set(peerId, address);
    this.#retries.reset(`dial:${peerId}`);
    return peerId;
  }

  /** Peers with an open connection. */
  peers(): WebConnectedPeer[] {
    return this.libp2p.getPeers().map((id) => {
      const peerId = id.toString();
      const connections = this.libp2p.getConnections(id);
      const syncing = this.#sessions.has(peerId);
      const relayed = syncing ? this.#sessions.isLimited(peerId) : connections.every((c) => c.limits !== undefined);
      return {
        peerId,
        addresses: connections.map((c) => c.remoteAddr.toString()),
        authorized: this.isAuthorized(peerId),
        syncing,
        path: relayed ? 'relayed' : 'direct',
      };
    });
  }

  /** Makes sure every connected authorized peer has a session; resolves with their catch-ups. */
  async syncNow(): Promise<SyncCompleteEvent[]> {
    this.#assertRunning();
    const runs = this.libp2p
      .getPeers()
      .map(String)
      .filter((peerId) => this.isAuthorized(peerId))
      .map((peerId) => this.#sessions.caughtUp(peerId) ?? this.#sessions.open(peerId, this.#stop.signal));
    return (await Promise.all(runs)).filter((r): r is SyncCompleteEvent => r !== undefined);
  }

  /** Ends every session, closes every connection, cancels every retry; safe to call more than once. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      const reason = new NodeStoppedError();
      this.#stop.abort(reason);
      this.#retries.clear();
      for (const timer of this.#graceTimers) clearTimeout(timer);
      this.#graceTimers.clear();
      for (const detach of this.#detach) detach();
      await this.#sessions.stopAll(reason);
      await this.libp2p.stop();
    })();
    return this.#stopped;
  }

  #assertRunning(): void {
    if (this.#stop.signal.aborted) throw new NodeStoppedError();
  }

  #listen<T>(name: 'connection:open' | 'peer:disconnect', handler: (detail: T) => void): void {
    const listener = (event: CustomEvent<T>): void => {
      if (this.#stop.signal.aborted) return;
      try {
        handler(event.detail);
      } catch (error) {
        this.emit('error', { error: error instanceof Error ? error : new Error(String(error)) });
      }
    };
    this.libp2p.addEventListener(name, listener as never);
    this.#detach.push(() => this.libp2p.removeEventListener(name, listener as never));
  }

  #opened(connection: Connection): void {
    const peerId = connection.remotePeer.toString();
    const authorized = this.isAuthorized(peerId);
    this.#config.log(`connected to ${peerId} (${connection.remoteAddr.toString()})${authorized ? '' : ' (not on the device list: no sync)'}`);
    this.emit('peer:connect', { peerId, authorized, address: connection.remoteAddr.toString(), path: connection.limits === undefined ? 'direct' : 'relayed' });
    if (!authorized) {
      if (connection.direction === 'inbound') this.#closeUnlessClaimed(connection);
      return;
    }
    rememberPeer(this.#raw, peerId, []);
    if (!this.#sessions.isOpener(peerId)) return;
    if (connection.limits === undefined && this.#sessions.isLimited(peerId)) {
      // A direct (WebRTC) connection came while the session runs over the relay: move it there.
      // It resumes from its cursor; the peer replaces its side when the new stream arrives.
      void this.#sessions.abort(peerId, new Error('moving the session to a direct connection')).then(() => {
        if (!this.#stop.signal.aborted && this.libp2p.getConnections(connection.remotePeer).length > 0) void this.#sessions.open(peerId, this.#stop.signal);
      });
      return;
    }
    void this.#sessions.open(peerId, this.#stop.signal);
  }

  /**
   * A device not on the list that connected in (while an invitation is shown) is closed after
   * STRANGER_GRACE_MS unless it is listed by then or an invitation keeps it (it claimed the nonce
   * and is pairing; it is looked at again after as long).
   */
  #closeUnlessClaimed(connection: Connection): void {
    const timer = setTimeout(() => {
      this.#graceTimers.delete(timer);
      const peerId = connection.remotePeer.toString();
      if (this.#stop.signal.aborted || connection.status !== 'open' || this.isAuthorized(peerId)) return;
      if ([...this.#inviting].some((keep) => keep(peerId))) this.#closeUnlessClaimed(connection);
      else void connection.close().catch(() => {});
    }, STRANGER_GRACE_MS);
    this.#graceTimers.add(timer);
  }

  #disconnected(peerId: string): void {
    this.#config.log(`disconnected from ${peerId}`);
    void this.#sessions.abort(peerId, new Error(`peer ${peerId} disconnected`));
    this.emit('peer:disconnect', { peerId });
    void this.#redial(peerId);
  }

  /**
   * Dials `peerId` again at the address that reached it, after a backoff, until it connects or the
   * node stops: a device on the list, or a relay (where this page keeps its reservation).
   */
  async #redial(peerId: string): Promise<void> {
    const address = this.#addresses.get(peerId);
    if (address === undefined || !this.#config.reconnect) return;
    if (!this.isAuthorized(peerId) && !(await this.#isRelay(peerId))) return;
    if (this.#stop.signal.aborted) return;
    const delay = this.#retries.schedule(`dial:${peerId}`, () => {
      if (this.#stop.signal.aborted || this.libp2p.getConnections(peerIdFromString(peerId)).length > 0) return;
      this.dial(address).catch((error: unknown) => {
        this.#config.log(`could not reach ${peerId} at ${address}: ${(error as Error).message}`);
        void this.#redial(peerId);
      });
    });
    if (delay !== undefined) this.#config.log(`dialling ${peerId} again in ${delay} ms`);
  }

  /** Whether `peerId` said (identify) that it relays: it offers the circuit relay's hop protocol. */
  async #isRelay(peerId: string): Promise<boolean> {
    const peer = await this.libp2p.peerStore.get(peerIdFromString(peerId)).catch(() => undefined);
    return peer?.protocols.includes(RELAY_HOP_PROTOCOL) === true;
  }

  #sessionEnded(peerId: string, error: Error | undefined, progressed: boolean): void {
    const key = `session:${peerId}`;
    if (progressed) this.#retries.reset(key);
    if (this.#stop.signal.aborted || error === undefined || !this.#sessions.isOpener(peerId)) return;
    this.#retries.schedule(key, () => {
      if (this.libp2p.getConnections(peerIdFromString(peerId)).length > 0 && this.isAuthorized(peerId)) void this.#sessions.open(peerId, this.#stop.signal);
    });
  }
}
