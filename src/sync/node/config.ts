/**
 * P2PConfig: what a sync node listens on, whom it dials, and how it discovers peers. Every field
 * is optional; `resolveConfig` fills the defaults and rejects values that cannot work.
 */
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import {
  COMPACT_AFTER_ENTRIES,
  COMPACT_INTERVAL_MS,
  DEFAULT_LISTEN_ADDRESSES,
  MDNS_INTERVAL_MS,
  MDNS_SERVICE_TAG,
  NETWORK_CHECK_INTERVAL_MS,
  RECONNECT_INITIAL_DELAY_MS,
  RECONNECT_MAX_DELAY_MS,
} from './constants.ts';
import { NodeConfigError } from './errors.ts';
import { DEFAULT_MAX_DRIFT_MS } from '../../clock/hybrid-logical-clock.ts';

export interface P2PConfig {
  /**
   * Multiaddrs to listen on. TCP port 0 means this device's kept port (see `keepPort`).
   * @default ['/ip4/0.0.0.0/tcp/0'] (every interface, the kept port)
   */
  listenAddresses?: string[];
  /**
   * Give listen addresses with TCP port 0 the port this device keeps: a free one chosen at the
   * first start and stored in the database, asked for again at every start, so the addresses its
   * paired devices remember stay true. If another program holds it, this run listens on a random
   * port and `SyncNode.listenPort.unavailable` says so. false: port 0 is a new random port each start.
   * @default true
   */
  keepPort?: boolean;
  /**
   * The TCP port to keep from now on, in place of the stored one (1-65535); used for listen
   * addresses with port 0. Unlike a kept port, a named port that is in use fails the start
   * (ListenPortInUseError).
   */
  port?: number;
  /**
   * How often to look for a network change (an interface or address appearing or going), in
   * milliseconds; on one the node announces its new addresses to connected peers and dials known
   * peers that are not connected, forgetting earlier failures. 0: never. @default 3000
   */
  networkCheckIntervalMs?: number;
  /**
   * Discover peers on the local network with mDNS. mDNS multicasts on every interface, so the node
   * refuses to start unless the only interfaces are `lo` and veth links with no default route
   * (a test network namespace), or `mdnsInterfaceCheck` is false.
   * @default false
   */
  enableMdns?: boolean;
  /**
   * Set to false on a real deployment where announcing this device on every attached network is
   * wanted (a home LAN). Tests never set it.
   * @default true
   */
  mdnsInterfaceCheck?: boolean;
  /** mDNS service tag; nodes only see peers that use the same tag. @default '_ahenk._udp.local' */
  mdnsServiceTag?: string;
  /** mDNS query interval in milliseconds. @default 1000 */
  mdnsIntervalMs?: number;
  /**
   * Multiaddrs of peers to dial at start and keep reconnecting to (with `/p2p/<id>` when known).
   * Peers learned at run time are kept in the database (ahenk_peers, ahenk_peer_addresses) and
   * dialled the same way; these addresses are tried before the remembered ones.
   * @default []
   */
  bootstrapPeers?: string[];
  /** Alias of `bootstrapPeers`; both lists are used. @default [] */
  knownPeers?: string[];
  /**
   * Circuit-relay-v2 servers (`/ip4/.../tcp/.../p2p/<relayId>`) to hold a reservation on, so peers
   * behind NAT can reach this node through them (`createRelayNode` / `ahenk relay` runs one; it
   * must admit this device). Known devices are also dialled through them. Sync runs over the
   * relayed connection; DCUtR tries to upgrade it to a direct one. @default []
   */
  relayServers?: string[];
  /**
   * Which addresses peers are told: `'all'` (own and relayed), or `'relayed'` only, which keeps
   * this device's IP addresses from its peers: they reach it through its relays alone.
   * @default 'all'
   */
  announce?: 'all' | 'relayed';
  /**
   * Keep each session open after catch-up and push new local writes as they commit.
   * @default true
   */
  live?: boolean;
  /**
   * Without live sessions, how often to sync with every connected peer (0: only on connect and
   * `syncNow()`). @default 0
   */
  syncIntervalMs?: number;
  /**
   * How often to drop superseded oplog entries (compactOplog), in milliseconds; 0 never.
   * @default 600000 (10 minutes)
   */
  compactIntervalMs?: number;
  /**
   * Also compact as soon as this many entries were logged since the last compaction (checked every
   * 2 s); 0: only every `compactIntervalMs`. No compaction at all when `compactIntervalMs` is 0.
   * @default 100000
   */
  compactAfterEntries?: number;
  /** Entries per batch the session sends; the session's default when absent. */
  batchSize?: number;
  /** Dial known peers again after a disconnect or failed dial, with exponential backoff. @default true */
  reconnect?: boolean;
  /** First reconnect delay in milliseconds. @default 1000 */
  reconnectInitialDelayMs?: number;
  /** Largest reconnect delay in milliseconds. @default 60000 */
  reconnectMaxDelayMs?: number;
  /** Receives one line per notable thing the node does (sessions, refusals, reconnects). */
  log?: (message: string) => void;
  /**
   * Writes from peers stamped further ahead of this device's wall clock than this are held back
   * (quarantined) and applied by the node once time brings them inside it.
   * @default 300000 (5 minutes, DEFAULT_MAX_DRIFT_MS)
   */
  maxDriftMs?: number;
  /** The wall clock in Unix ms, for the drift check and its retries (tests move it). @default Date.now */
  now?: () => number;
}

export interface ResolvedConfig {
  listenAddresses: Multiaddr[];
  keepPort: boolean;
  port: number | undefined;
  networkCheckIntervalMs: number;
  enableMdns: boolean;
  mdnsInterfaceCheck: boolean;
  mdnsServiceTag: string;
  mdnsIntervalMs: number;
  bootstrapPeers: Multiaddr[];
  relayServers: Multiaddr[];
  announce: 'all' | 'relayed';
  live: boolean;
  syncIntervalMs: number;
  compactIntervalMs: number;
  compactAfterEntries: number;
  batchSize: number | undefined;
  reconnect: boolean;
  reconnectInitialDelayMs: number;
  reconnectMaxDelayMs: number;
  log: (message: string) => void;
  maxDriftMs: number;
  now: () => number;
}

export function resolveConfig(config: P2PConfig = {}): ResolvedConfig {
  if (typeof config !== 'object' || config === null) throw new NodeConfigError('P2PConfig must be an object');
  const listen = parseAddresses('listenAddresses', config.listenAddresses ?? [...DEFAULT_LISTEN_ADDRESSES]);
  if (listen.length === 0) throw new NodeConfigError('listenAddresses: give at least one address to listen on');
  const relays = parseAddresses('relayServers', config.relayServers ?? []);
  for (const relay of relays) {
    if (relay.getComponents().findLast((c) => c.name === 'p2p') === undefined) {
      throw new NodeConfigError(`relayServers: ${relay.toString()} must end with /p2p/<relay peer id>`);
    }
  }
  if (config.port !== undefined && (!Number.isInteger(config.port) || config.port < 1 || config.port > 65_535)) {
    throw new NodeConfigError(`port must be a whole number from 1 to 65535, got ${String(config.port)}`);
  }
  if (config.announce === 'relayed' && relays.length === 0) throw new NodeConfigError("announce: 'relayed' needs at least one of relayServers");
  return {
    listenAddresses: listen,
    keepPort: config.keepPort ?? true,
    port: config.port,
    networkCheckIntervalMs: nonNegative('networkCheckIntervalMs', config.networkCheckIntervalMs ?? NETWORK_CHECK_INTERVAL_MS),
    enableMdns: config.enableMdns ?? false,
    mdnsInterfaceCheck: config.mdnsInterfaceCheck ?? true,
    mdnsServiceTag: config.mdnsServiceTag ?? MDNS_SERVICE_TAG,
    mdnsIntervalMs: positive('mdnsIntervalMs', config.mdnsIntervalMs ?? MDNS_INTERVAL_MS),
    bootstrapPeers: parseAddresses('bootstrapPeers', [...(config.bootstrapPeers ?? []), ...(config.knownPeers ?? [])]),
    relayServers: relays,
    announce: announceMode(config.announce),
    live: config.live ?? true,
    syncIntervalMs: nonNegative('syncIntervalMs', config.syncIntervalMs ?? 0),
    compactIntervalMs: nonNegative('compactIntervalMs', config.compactIntervalMs ?? COMPACT_INTERVAL_MS),
    compactAfterEntries: nonNegativeInteger('compactAfterEntries', config.compactAfterEntries ?? COMPACT_AFTER_ENTRIES),
    batchSize: config.batchSize === undefined ? undefined : positive('batchSize', config.batchSize),
    reconnect: config.reconnect ?? true,
    reconnectInitialDelayMs: positive('reconnectInitialDelayMs', config.reconnectInitialDelayMs ?? RECONNECT_INITIAL_DELAY_MS),
    reconnectMaxDelayMs: positive('reconnectMaxDelayMs', config.reconnectMaxDelayMs ?? RECONNECT_MAX_DELAY_MS),
    log: config.log ?? (() => {}),
    maxDriftMs: nonNegative('maxDriftMs', config.maxDriftMs ?? DEFAULT_MAX_DRIFT_MS),
    now: config.now ?? Date.now,
  };
}

/** A config field's multiaddr strings, parsed; NodeConfigError names the field and the bad value. */
export function parseAddresses(field: string, values: unknown): Multiaddr[] {
  if (!Array.isArray(values)) throw new NodeConfigError(`${field} must be an array of multiaddr strings`);
  return values.map((value: unknown) => {
    if (typeof value !== 'string') throw new NodeConfigError(`${field}: ${String(value)} is not a multiaddr string`);
    try {
      return multiaddr(value);
    } catch (error) {
      throw new NodeConfigError(`${field}: ${JSON.stringify(value)} is not a valid multiaddr (${(error as Error).message})`);
    }
  });
}

function announceMode(value: unknown): 'all' | 'relayed' {
  if (value === undefined || value === 'all' || value === 'relayed') return value ?? 'all';
  throw new NodeConfigError(`announce must be 'all' or 'relayed', got ${JSON.stringify(value)}`);
}

function positive(field: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new NodeConfigError(`${field} must be a positive number, got ${value}`);
  return value;
}

/** `value` when it is a finite number >= 0; a NodeConfigError naming `field` otherwise (the relay's config uses it too). */
function nonNegativeInteger(field: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new NodeConfigError(`${field} must be zero or a positive integer, got ${value}`);
  return value;
}

export function nonNegative(field: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new NodeConfigError(`${field} must be zero or a positive number, got ${value}`);
  return value;
}
