/**
 * createSyncNode: a started libp2p node that keeps this database in sync with the user's other
 * devices. It is an adapter: the session (what moves, in which order, how it resumes) knows
 * nothing of libp2p; this file decides whom to connect to, when to sync, and when to give up.
 */
import './polyfill.ts';
import type { Connection, IdentifyResult, Libp2p, PeerId, PeerInfo } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { StorageError } from '../../errors.ts';
import type { SqliteConnection } from '../../sqlite/index.ts';
import { isOtherAuthorizedPeer, isRevokedPeer } from '../../auth/devices.ts';
import { compactOplog } from '../../oplog/compact.ts';
import { getClockDrift, type ClockDriftReport } from '../../merge/drift.ts';
import { connectionOf, type DatabaseHandle } from '../../sqlite/index.ts';
import { readIdentity, readRevocationNotice, recordRevocationNotice, type RevocationNotice } from '../../database/identity.ts';
import { SYNC_PROTOCOL } from '../protocol/index.ts';
import { resolveConfig, type P2PConfig, type ResolvedConfig } from './config.ts';
import { AUTHORIZATION_RECHECK_MS, COMPACT_GROWTH_CHECK_MS, COMPACT_SLICE_ENTRIES, DIAL_TIMEOUT_MS, HOLE_PUNCH_WAIT_MS } from './constants.ts';
import { HolePunchWatch } from './hole-punch-watch.ts';
import { dialAddress, PeerDialer, withPeer } from './dialer.ts';
import { NodeConfigError, NodeStoppedError, UnauthorizedPeerError } from './errors.ts';
import { startedOrStopped, SyncNodeEmitter, type PeerPath, type SyncCompleteEvent } from './events.ts';
import { PeerPaths } from './paths.ts';
import { RelayKeeper } from './relay-keeper.ts';
import { cancelLibp2pShutdownTimers, ownAddresses, startLibp2p } from './libp2p.ts';
import { assertIsolatedNetwork } from './mdns-guard.ts';
import { planListenAddresses, type ListenPort } from './listen-port.ts';
import { listKnownPeers, rememberPeer, type KnownPeer } from './peer-store.ts';
import { Reachability } from './reachability.ts';
import { isStorageFailure, SyncSessions } from './sessions.ts';
import { HeldEntryRetry } from './held-retry.ts';

export interface ConnectedPeer {
  peerId: string;
  /** Remote addresses of the open connections. */
  addresses: string[];
  authorized: boolean;
  /** A sync session with this peer is running. */
  syncing: boolean;
  /** How the peer is reached: its own address, a relay's circuit, or a hole punched from a relayed connection. */
  path: PeerPath;
}

/** Starts a sync node for `db`; resolves once it listens. Stop it with `stop()`. */
export async function createSyncNode(db: DatabaseHandle, config: P2PConfig = {}): Promise<SyncNode> {
  const resolved = resolveConfig(config);
  const raw = connectionOf(db);
  const identity = readIdentity(raw);
  if (identity === undefined) throw new NodeConfigError('this database has no device identity; open it with initializeDatabase first');
  if (resolved.enableMdns && resolved.mdnsInterfaceCheck) await assertIsolatedNetwork();
  let listen = await planListenAddresses(raw, resolved);
  let libp2p: Libp2p;
  try {
    libp2p = await startLibp2p(identity.privateKey, { ...resolved, listenAddresses: listen.addresses });
  } catch (error) {
    // The kept port was free when checked, yet the listen failed: another program took it since, or
    // two listen addresses overlap (0.0.0.0 and 127.0.0.1 both with port 0). As when it is taken
    // before the check: this run listens on random ports. A named port, or none kept, fails as it is.
    const { kept, keptWebSocket } = listen.port;
    if ((kept ?? keptWebSocket) === undefined || listen.port.unavailable !== undefined || resolved.port !== undefined) throw error;
    const reason = (error instanceof Error ? error.message : String(error)).replace(/\s+/g, ' ').slice(0, 200);
    const ports = [kept, keptWebSocket].filter((p) => p !== undefined).join(' and ');
    const unavailable = `the kept listen port ${ports} could not be listened on (${reason}); listening on a random port for this run (free the port, or choose another with --port / P2PConfig.port)`;
    listen = { addresses: resolved.listenAddresses, port: { kept, keptWebSocket, unavailable } };
    libp2p = await startLibp2p(identity.privateKey, resolved);
  }
  if (listen.port.unavailable !== undefined) resolved.log(listen.port.unavailable);
  return startedOrStopped(new SyncNode(db, raw, libp2p, resolved, listen.port));
}

/** The same function under the name the Rust seed used. */
export const createSwarm = createSyncNode;

export class SyncNode extends SyncNodeEmitter {
  /** This device's id: the PeerId of the key stored in the database, the same after restarts. */
  readonly peerId: string;
  /** The underlying libp2p node, for diagnostics; the sync node owns its lifecycle. */
  readonly libp2p: Libp2p;
  /** The port this device keeps, and whether this run could have it (see P2PConfig.keepPort). */
  readonly listenPort: ListenPort;
  readonly #raw: SqliteConnection;
  readonly #config: ResolvedConfig;
  readonly #sessions: SyncSessions;
  readonly #dialer: PeerDialer;
  readonly #stop = new AbortController();
  readonly #intervals: NodeJS.Timeout[] = [];
  readonly #detach: (() => void)[] = [];
  readonly #reachability: Reachability;
  readonly #held: HeldEntryRetry;
  #stopped: Promise<void> | undefined;
  #compacting = false;
  #revoked: RevocationNotice | undefined;
  readonly #paths: PeerPaths;
  readonly #relays: RelayKeeper;
  readonly #holePunch: HolePunchWatch;

  /** Use createSyncNode. */
  constructor(db: DatabaseHandle, raw: SqliteConnection, libp2p: Libp2p, config: ResolvedConfig, listenPort: ListenPort = { kept: undefined, unavailable: undefined }) {
    super();
    this.peerId = libp2p.peerId.toString();
    this.libp2p = libp2p;
    this.listenPort = listenPort;
    this.#raw = raw;
    this.#config = config;
    this.#held = new HeldEntryRetry(raw, config, this, this.#stop.signal);
    this.#revoked = readRevocationNotice(raw);
    this.#dialer = new PeerDialer({
      libp2p,
      raw,
      config,
      localPeerId: this.peerId,
      stopSignal: this.#stop.signal,
      isAuthorized: (peerId) => this.#maySync(peerId),
      unreachable: (event) => this.emit('peer:unreachable', event),
    });
    this.#reachability = new Reachability({
      libp2p,
      raw,
      config,
      dialer: this.#dialer,
      stopSignal: this.#stop.signal,
      isAuthorized: (peerId) => this.#maySync(peerId),
      networkChanged: (event) => this.emit('network:change', event),
    });
    this.#paths = new PeerPaths(libp2p);
    this.#relays = new RelayKeeper({ libp2p, config, retries: this.#dialer.retries, stopSignal: this.#stop.signal });
    this.#holePunch = new HolePunchWatch(
      {
        pathOf: (peerId) => this.#paths.pathOf(peerId),
        isConnected: (peerId) => this.#isConnected(peerId),
        stopSignal: this.#stop.signal,
        report: (peerId, error, waitedMs) => {
          this.#config.log(`no direct path to ${peerId}: the direct dial failed (${error}) and DCUtR punched no hole within ${waitedMs / 1000} s; sync stays on the relay`);
          this.emit('peer:direct-failed', { peerId, error, waitedMs });
        },
      },
      HOLE_PUNCH_WAIT_MS,
    );
    this.#sessions = new SyncSessions({
      db,
      raw,
      localPeerId: this.peerId,
      libp2p,
      config,
      events: this,
      isAuthorized: (peerId) => this.#maySync(peerId),
      sessionEnded: (peerId, error, progressed) => this.#sessionEnded(peerId, error, progressed),
      revokedBy: (peerId) => this.#revokedBy(peerId),
      ...this.#held.sessionHooks(),
    });
  }

  /** Registers the protocol and listeners and dials known peers; called by createSyncNode. */
  async start(): Promise<void> {
    const signal = this.#stop.signal;
    // Sync runs over relayed (limited) connections too: a circuit cut by its relay's limit is
    // re-opened and the session resumes from its cursor.
    await this.libp2p.handle(SYNC_PROTOCOL, (stream, connection) => this.#sessions.accept(stream, connection, signal), { runOnLimitedConnection: true });
    this.#listen('peer:connect', (event) => this.#onPeerConnect(event.detail));
    this.#listen('peer:disconnect', (event) => this.#onPeerDisconnect(event.detail));
    this.#listen('connection:open', (event) => this.#onConnectionOpen(event.detail));
    this.#listen('peer:identify', (event) => this.#onIdentify(event.detail));
    this.#listen('peer:discovery', (event) => this.#onDiscovery(event.detail));
    this.#detach.push(this.on('sync:start', (event) => this.#reachability.sessionStarted(event.peerId)));
    const ownListen = ownAddresses(this.libp2p);
    if (ownListen.length === 0) throw new NodeConfigError(`could not listen on ${this.#config.listenAddresses.join(', ')}`);
    this.#every(AUTHORIZATION_RECHECK_MS, () => this.#dropRevokedPeers());
    if (!this.#config.live && this.#config.syncIntervalMs > 0) this.#every(this.#config.syncIntervalMs, () => this.#syncConnected(false));
    if (this.#config.compactIntervalMs > 0) {
      this.#every(this.#config.compactIntervalMs, () => this.#compact());
      if (this.#config.compactAfterEntries > 0) this.#every(COMPACT_GROWTH_CHECK_MS, () => this.#compactIfGrown());
    }
    this.#held.start();
    this.#reachability.start();
    if (this.#revoked !== undefined) this.#config.log(`this device was revoked (${this.#revoked.by} said so): not syncing`);
    else this.#dialer.dialAll();
  }

  /**
   * Set once a peer on this device's list refused it as revoked (now or in an earlier run of this
   * identity): the node then neither dials nor syncs; its writes stay in the database.
   */
  get revoked(): RevocationNotice | undefined {
    return this.#revoked;
  }

  /** Aborted when the node stops: work tied to the node (a pairing, a wait) ends with it. */
  get stopSignal(): AbortSignal {
    return this.#stop.signal;
  }

  getMultiaddrs(): string[] {
    return this.libp2p.getMultiaddrs().map(String);
  }

  /** Peers with an open connection, authorized or not. */
  peers(): ConnectedPeer[] {
    return this.libp2p.getPeers().map((id) => {
      const peerId = id.toString();
      const connections = this.libp2p.getConnections(id);
      const direct = connections.some((c) => c.limits === undefined && !c.remoteAddr.toString().includes('/p2p-circuit'));
      return {
        peerId,
        addresses: connections.map((c) => c.remoteAddr.toString()),
        authorized: this.isAuthorized(peerId),
        syncing: this.#sessions.has(peerId),
        path: this.#paths.pathOf(peerId),
      };
    });
  }

  /**
   * Clock drift now: how far this device's stamps run ahead of its wall clock, and whose writes
   * are held back for their stamps (measured with the node's clock and allowance).
   */
  clockDrift(): ClockDriftReport {
    return getClockDrift(this.#raw, { now: this.#config.now, maxDriftMs: this.#config.maxDriftMs });
  }

  /** Peers remembered in ahenk_peers (addresses, last seen, last synced). */
  knownPeers(): KnownPeer[] {
    return listKnownPeers(this.#raw);
  }

  isAuthorized(peerId: string): boolean {
    return isOtherAuthorizedPeer(this.#raw, this.peerId, peerId);
  }

  /** Connects to `address` (a multiaddr string); resolves with the remote PeerId. Sync starts by itself if it is authorized. */
  async dial(address: string, options: { signal?: AbortSignal } = {}): Promise<string> {
    this.#assertRunning();
    return dialAddress(this.libp2p, address, this.#stop.signal, options.signal);
  }

  /**
   * Makes sure every connected authorized peer has a session (this side opens one where none
   * runs), waits until each has caught up, and resolves with their catch-up results (sessions
   * that failed are left out and reported as 'error' events). Known peers that are not connected
   * are dialled in the background.
   */
  async syncNow(): Promise<SyncCompleteEvent[]> {
    this.#assertRunning();
    if (this.#revoked !== undefined) return [];
    this.#dialer.dialAll();
    const results = await Promise.all(this.#syncConnected(true));
    return results.filter((r): r is SyncCompleteEvent => r !== undefined);
  }

  /** Aborts every session, stops libp2p and cancels every timer; safe to call more than once. */
  stop(): Promise<void> {
    this.#stopped ??= this.#shutdown();
    return this.#stopped;
  }

  async #shutdown(): Promise<void> {
    const reason = new NodeStoppedError();
    this.#stop.abort(reason);
    this.#dialer.clear();
    this.#reachability.stop();
    for (const interval of this.#intervals) clearInterval(interval);
    for (const detach of this.#detach) detach();
    await this.#sessions.stopAll(reason);
    await this.libp2p.stop();
    cancelLibp2pShutdownTimers(this.libp2p);
  }

  #assertRunning(): void {
    if (this.#stop.signal.aborted) throw new NodeStoppedError();
  }

  #listen<K extends 'peer:connect' | 'peer:disconnect' | 'connection:open' | 'peer:identify' | 'peer:discovery'>(
    name: K,
    handler: (event: CustomEvent<LibpEventDetail<K>>) => void,
  ): void {
    const listener = (event: CustomEvent<LibpEventDetail<K>>): void => {
      if (this.#stop.signal.aborted) return;
      try {
        handler(event);
      } catch (error) {
        this.emit('error', { error: error instanceof Error ? error : new Error(String(error)) });
      }
    };
    this.libp2p.addEventListener(name, listener as never);
    this.#detach.push(() => this.libp2p.removeEventListener(name, listener as never));
  }

  /**
   * Drops superseded log entries, a slice of the log at a time with the event loop free between
   * slices, so a large first run neither stalls libp2p nor holds the write lock for long. A
   * failure (a busy database) is reported and tried again at the next interval.
   */
  #compact(): void {
    if (this.#compacting) return;
    this.#compacting = true;
    let rows = 0;
    let removed = 0;
    const step = (): void => {
      if (this.#stop.signal.aborted) {
        this.#compacting = false;
        return;
      }
      try {
        const report = compactOplog(this.#raw, { maxEntries: COMPACT_SLICE_ENTRIES });
        rows += report.rows;
        removed += report.removed;
        if (!report.done) {
          setImmediate(step);
          return;
        }
        if (removed > 0) this.#config.log(`compacted the oplog: ${removed} log rows fewer (superseded or joined) for ${rows} rows`);
      } catch (error) {
        this.emit('error', { error: error instanceof Error ? error : new Error(String(error)) });
      }
      this.#compacting = false;
    };
    step();
  }

  /** Compacts before the interval is up when the log grew by compactAfterEntries since the last run. */
  #compactIfGrown(): void {
    if (this.#compacting) return;
    let grown: number;
    try {
      const threshold = this.#config.compactAfterEntries;
      // Counting stops at the threshold: a seq range of the log's primary key, at most that many rows.
      grown = Number(this.#raw.prepare('SELECT count(*) FROM (SELECT 1 FROM ahenk_oplog WHERE seq > (SELECT compacted FROM ahenk_clock WHERE id = 0) LIMIT ?)').value(threshold));
      if (grown < threshold) return;
    } catch (error) {
      this.emit('error', { error: error instanceof Error ? error : new Error(String(error)) });
      return;
    }
    this.#config.log(`the oplog grew by ${grown} entries since the last compaction: compacting now`);
    this.#compact();
  }

  #every(ms: number, task: () => void): void {
    const interval = setInterval(task, ms);
    // The node's sockets keep the process alive while it runs; its housekeeping need not.
    interval.unref();
    this.#intervals.push(interval);
  }

  #onPeerConnect(id: PeerId): void {
    const peerId = id.toString();
    const connection = this.libp2p.getConnections(id)[0];
    const authorized = this.isAuthorized(peerId);
    if (authorized) {
      this.#dialer.connected(peerId);
      rememberPeer(this.#raw, peerId, []);
    }
    const path = this.#paths.pathOf(peerId);
    this.#config.log(`connected to ${peerId} (${path})${authorized ? '' : ' (not on the device list: no sync)'}`);
    this.emit('peer:connect', { peerId, authorized, address: connection?.remoteAddr.toString() ?? '', path });
  }

  #onConnectionOpen(connection: Connection): void {
    const peerId = connection.remotePeer.toString();
    this.#reachability.connectionOpened(connection);
    const change = this.#paths.opened(connection);
    if (change !== undefined) {
      const how = change.path === 'hole-punched' ? 'a hole punched from the relayed connection' : change.path === 'relayed' ? `a relay (${connection.remoteAddr.toString()})` : 'its own address';
      this.#config.log(`${peerId} is reached through ${how}`);
      this.emit('peer:path', { peerId, ...change });
    }
    if (!this.isAuthorized(peerId)) return this.#tellRevoked(peerId);
    if (!this.#maySync(peerId) || !this.#sessions.isOpener(peerId)) return;
    if (connection.limits === undefined && this.#sessions.isLimited(peerId)) {
      // A direct connection came while the session runs over a relay: move it there. The
      // session resumes from its cursor; the peer replaces its side when the new stream arrives.
      void this.#sessions.abort(peerId, new Error('moving the session to a direct connection')).then(() => {
        if (!this.#stop.signal.aborted && this.#isConnected(peerId)) void this.#sessions.open(peerId, this.#stop.signal);
      });
      return;
    }
    void this.#sessions.open(peerId, this.#stop.signal);
  }

  #onPeerDisconnect(id: PeerId): void {
    const peerId = id.toString();
    this.#paths.closed(peerId);
    this.#relays.disconnected(peerId);
    this.#config.log(`disconnected from ${peerId}`);
    this.#reachability.disconnected(peerId);
    void this.#sessions.abort(peerId, new Error(`peer ${peerId} disconnected`));
    this.emit('peer:disconnect', { peerId });
    if (this.#maySync(peerId)) this.#dialer.reconnect(peerId);
  }

  #onIdentify(result: IdentifyResult): void {
    const peerId = result.peerId.toString();
    const addresses = this.#reachability.identified(result);
    if (!this.isAuthorized(peerId)) return;
    const direct = addresses.filter((a) => !a.includes('/p2p-circuit'));
    if (direct.length > 0 && this.libp2p.getConnections(result.peerId).every((c) => c.limits !== undefined)) {
      // Reached only through a relay, where sync does not run: try its own addresses, which works
      // whenever the peer is reachable directly (same LAN, public address). DCUtR covers NATs.
      this.#config.log(`${peerId} is connected through a relay only; dialling it directly`);
      const signal = AbortSignal.any([this.#stop.signal, AbortSignal.timeout(DIAL_TIMEOUT_MS)]);
      const ownDial = this.#paths.dialingDirectly(peerId);
      void this.libp2p
        .dial(direct.map((a) => multiaddr(withPeer(a, peerId))), { signal, force: true })
        .catch((error: unknown) => {
          this.#config.log(`direct dial to ${peerId} failed (${(error as Error).message}); sync stays on the relay unless DCUtR punches a hole`);
          this.#holePunch.directDialFailed(peerId, (error as Error).message);
        })
        .finally(ownDial);
    }
  }

  #onDiscovery(info: PeerInfo): void {
    const peerId = info.id.toString();
    if (peerId === this.peerId) return;
    const authorized = this.isAuthorized(peerId);
    const addresses = info.multiaddrs.map(String);
    this.emit('peer:discovery', { peerId, addresses, authorized });
    if (!this.#maySync(peerId) || this.#isConnected(peerId)) return;
    this.#config.log(`discovered ${peerId}; dialling`);
    void this.libp2p.dial(info.id, { signal: AbortSignal.any([this.#stop.signal, AbortSignal.timeout(DIAL_TIMEOUT_MS)]) }).catch((error: unknown) => {
      this.#config.log(`dial to discovered ${peerId} failed: ${(error as Error).message}`);
    });
  }

  #sessionEnded(peerId: string, error: Error | undefined, progressed: boolean): void {
    const key = `session:${peerId}`;
    // A session that moved entries before it ended (a relay's limit cut its circuit) starts the
    // backoff again: only sessions that fail without progress wait longer and longer.
    if (progressed) this.#dialer.retries.reset(key);
    if (this.#stop.signal.aborted || error === undefined || !this.#isConnected(peerId) || !this.#sessions.isOpener(peerId)) return;
    // A session that failed while the connection stays up (a protocol error, a stream reset on
    // one of two connections) is opened again after a backoff rather than at once, in a loop.
    const delay = this.#dialer.retries.schedule(key, () => {
      if (this.#isConnected(peerId) && this.#maySync(peerId)) void this.#sessions.open(peerId, this.#stop.signal);
    });
    if (delay !== undefined && isStorageFailure(error)) {
      this.#config.log(`sync with ${peerId}: ${error instanceof StorageError ? 'this database' : "the peer's database"} cannot be written now; trying again in ${(delay / 1000).toFixed(1)} s`);
    }
  }

  /** Peers we sync with: authorized, and only while this device is not revoked itself. */
  #maySync(peerId: string): boolean {
    return this.#revoked === undefined && this.isAuthorized(peerId);
  }

  /**
   * A revoked device whose id is the higher one never opens /ahenk/sync (the lower id does): we
   * open it to say, in one ERROR frame, that its key is revoked. Only to a key on our revocation
   * list, which Noise has authenticated; a device merely unknown to us may be pairing.
   */
  #tellRevoked(peerId: string): void {
    if (!this.#sessions.isOpener(peerId) || !isRevokedPeer(this.#raw, peerId)) return;
    const signal = AbortSignal.any([this.#stop.signal, AbortSignal.timeout(DIAL_TIMEOUT_MS)]);
    void this.libp2p
      .dialProtocol(peerIdFromString(peerId), SYNC_PROTOCOL, { signal })
      .then((stream) => {
        this.#config.log(`telling ${peerId} that its key is revoked`);
        return this.#sessions.refuse(stream, 'PROTOCOL_REVOKED');
      })
      .catch((error: unknown) => this.#config.log(`could not tell ${peerId} that its key is revoked: ${(error as Error).message}`));
  }

  /**
   * `peerId` ended a session saying our key is revoked. Believed only from a peer on our own device
   * list (Noise authenticated the stream as that peer): anyone else could say it to silence us.
   */
  #revokedBy(peerId: string): void {
    if (this.#revoked !== undefined || this.#stop.signal.aborted) return;
    if (!this.isAuthorized(peerId)) {
      this.#config.log(`ignored a revocation notice from ${peerId}: not on this device's list`);
      return;
    }
    const notice: RevocationNotice = { by: peerId, at: Date.now() };
    try {
      recordRevocationNotice(this.#raw, notice);
    } catch (error) {
      this.emit('error', { error: error instanceof Error ? error : new Error(String(error)), peerId });
    }
    this.#revoked = notice;
    this.#config.log(`${peerId} refused this device: its key was revoked from the device list; stopped syncing (unsynced writes stay in the database)`);
    this.#dialer.clear();
    for (const other of this.#sessions.peers()) void this.#sessions.abort(other, new UnauthorizedPeerError(this.peerId), true);
    this.emit('device:revoked', { peerId, at: notice.at });
  }

  /** Starts a session with every connected authorized peer that has none; returns their catch-ups. */
  #syncConnected(force: boolean): Promise<SyncCompleteEvent | undefined>[] {
    const catchUps: Promise<SyncCompleteEvent | undefined>[] = [];
    for (const id of this.libp2p.getPeers()) {
      const peerId = id.toString();
      if (!this.#maySync(peerId)) continue;
      const running = this.#sessions.caughtUp(peerId);
      if (running !== undefined) catchUps.push(running);
      // The periodic sync leaves a peer whose failed session waits for its retry (its backoff) alone.
      else if (force || (this.#sessions.isOpener(peerId) && !this.#dialer.retries.isPending(`session:${peerId}`))) catchUps.push(this.#sessions.open(peerId, this.#stop.signal));
    }
    return catchUps;
  }

  #dropRevokedPeers(): void {
    for (const peerId of this.#sessions.peers()) {
      if (this.isAuthorized(peerId)) continue;
      this.#config.log(`${peerId} is no longer on the device list; closing its session`);
      void this.#sessions.abort(peerId, new UnauthorizedPeerError(peerId), true);
      void this.libp2p.hangUp(peerIdFromString(peerId)).catch(() => {});
    }
  }

  #isConnected(peerId: string): boolean {
    return this.#dialer.isConnected(peerId);
  }
}

type LibpEventDetail<K extends string> = K extends 'peer:connect' | 'peer:disconnect'
  ? PeerId
  : K extends 'connection:open'
    ? Connection
    : K extends 'peer:identify'
      ? IdentifyResult
      : PeerInfo;
