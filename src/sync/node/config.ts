/**
 * P2PConfig: what a sync node listens on, whom it dials, and how it discovers peers. Every field
 * is optional; `resolveConfig` fills the defaults and rejects values that cannot work.
 */
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { COMPACT_INTERVAL_MS, DEFAULT_LISTEN_ADDRESSES, MDNS_INTERVAL_MS, MDNS_SERVICE_TAG, RECONNECT_INITIAL_DELAY_MS, RECONNECT_MAX_DELAY_MS } from './constants.ts';
import { NodeConfigError } from './errors.ts';
import { DEFAULT_MAX_DRIFT_MS } from '../../clock/hybrid-logical-clock.ts';

export interface P2PConfig {
  /**
   * Multiaddrs to listen on.
   * @default ['/ip4/0.0.0.0/tcp/0'] (every interface, a free port)
   */
  listenAddresses?: string[];
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
   * Peers learned at run time are kept in the ahenk_peers table and dialled the same way.
   * @default []
   */
  bootstrapPeers?: string[];
  /** Alias of `bootstrapPeers`; both lists are used. @default [] */
  knownPeers?: string[];
  /**
   * Circuit-relay-v2 servers (`/ip4/.../tcp/.../p2p/<relayId>`) to hold a reservation on, so peers
   * behind NAT can reach this node through them. DCUtR then tries a direct connection. Sync runs
   * only over unlimited (direct) connections. @default []
   */
  relayServers?: string[];
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
  enableMdns: boolean;
  mdnsInterfaceCheck: boolean;
  mdnsServiceTag: string;
  mdnsIntervalMs: number;
  bootstrapPeers: Multiaddr[];
  relayServers: Multiaddr[];
  live: boolean;
  syncIntervalMs: number;
  compactIntervalMs: number;
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
  return {
    listenAddresses: listen,
    enableMdns: config.enableMdns ?? false,
    mdnsInterfaceCheck: config.mdnsInterfaceCheck ?? true,
    mdnsServiceTag: config.mdnsServiceTag ?? MDNS_SERVICE_TAG,
    mdnsIntervalMs: positive('mdnsIntervalMs', config.mdnsIntervalMs ?? MDNS_INTERVAL_MS),
    bootstrapPeers: parseAddresses('bootstrapPeers', [...(config.bootstrapPeers ?? []), ...(config.knownPeers ?? [])]),
    relayServers: relays,
    live: config.live ?? true,
    syncIntervalMs: nonNegative('syncIntervalMs', config.syncIntervalMs ?? 0),
    compactIntervalMs: nonNegative('compactIntervalMs', config.compactIntervalMs ?? COMPACT_INTERVAL_MS),
    batchSize: config.batchSize === undefined ? undefined : positive('batchSize', config.batchSize),
    reconnect: config.reconnect ?? true,
    reconnectInitialDelayMs: positive('reconnectInitialDelayMs', config.reconnectInitialDelayMs ?? RECONNECT_INITIAL_DELAY_MS),
    reconnectMaxDelayMs: positive('reconnectMaxDelayMs', config.reconnectMaxDelayMs ?? RECONNECT_MAX_DELAY_MS),
    log: config.log ?? (() => {}),
    maxDriftMs: nonNegative('maxDriftMs', config.maxDriftMs ?? DEFAULT_MAX_DRIFT_MS),
    now: config.now ?? Date.now,
  };
}

function parseAddresses(field: string, values: unknown): Multiaddr[] {
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

function positive(field: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new NodeConfigError(`${field} must be a positive number, got ${value}`);
  return value;
}

function nonNegative(field: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new NodeConfigError(`${field} must be zero or a positive number, got ${value}`);
  return value;
}
