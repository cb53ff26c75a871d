/**
 * Known peers, persisted: ahenk_peers (when each authorized device was last seen and last synced)
 * and ahenk_peer_addresses (every address it was reached at or announced, with when that address
 * last worked and how often it has failed since). A restarted node dials them again without any
 * configuration, freshest address first, and leaves the dead ones for later (dialPlan).
 * Times are milliseconds since the Unix epoch.
 */
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { isAuthorizedPeer } from '../../auth/devices.ts';
import type { SqliteConnection } from '../../sqlite/index.ts';
import {
  ADDRESS_BACKOFF_INITIAL_MS,
  ADDRESS_BACKOFF_MAX_MS,
  MAX_ADDRESS_LENGTH,
  MAX_ADDRESSES_PER_PEER,
  MAX_DIAL_ERROR_LENGTH,
} from './constants.ts';

export interface KnownPeer {
  peerId: string;
  /** Multiaddr strings (without /p2p/<peer>), freshest first: last worked, then last learned. */
  addresses: string[];
  lastSeen: number | null;
  lastSync: number | null;
}

/** One remembered address of a peer and its record. */
export interface PeerAddress {
  address: string;
  /** When the peer last announced it, or it was first seen working. */
  learnedAt: number;
  /** When a connection through it last opened, null if never. */
  lastOk: number | null;
  /** Failed dials since it last worked (or since the last network change). */
  failures: number;
  lastFailure: number | null;
  lastError: string | null;
}

interface PeerRow {
  peer_id: string;
  last_seen: number | null;
  last_sync: number | null;
}

interface AddressRow {
  address: string;
  learned_at: number;
  last_ok: number | null;
  failures: number;
  last_failure: number | null;
  last_error: string | null;
}

/** Freshest first: the address that worked last, then the one learned last. */
const ADDRESS_ORDER = 'ORDER BY last_ok IS NULL, last_ok DESC, learned_at DESC, address';

/**
 * Records that `peerId` was seen now and that it can be reached at `addresses` (learned from the
 * peer or a pairing code; validate untrusted ones with validPeerAddresses first). An address
 * already known keeps its record and only its learned time moves. Keeps at most
 * MAX_ADDRESSES_PER_PEER per peer, dropping the stalest.
 */
export function rememberPeer(raw: SqliteConnection, peerId: string, addresses: readonly string[], now = Date.now()): void {
  raw.withStorageErrors('remembering a peer', () => raw.transaction(() => {
    touchPeer(raw, peerId, now);
    const learn = raw.prepare(
      `INSERT INTO ahenk_peer_addresses (peer_id, address, learned_at) VALUES (?, ?, ?)
       ON CONFLICT (peer_id, address) DO UPDATE SET learned_at = max(learned_at, excluded.learned_at)`,
    );
    // The first of the list is the most recent: it gets the latest time.
    addresses.slice(0, MAX_ADDRESSES_PER_PEER).forEach((address, i) => learn.run(peerId, address, now - i));
    prune(raw, peerId);
  }));
}

/** A connection to `peerId` through `address` just opened: it is the freshest, with no failures. */
export function recordAddressWorked(raw: SqliteConnection, peerId: string, address: string, now = Date.now()): void {
  raw.withStorageErrors("recording a peer's address", () => raw.transaction(() => {
    touchPeer(raw, peerId, now);
    raw
      .prepare(
        `INSERT INTO ahenk_peer_addresses (peer_id, address, learned_at, last_ok) VALUES (?, ?, ?, ?)
         ON CONFLICT (peer_id, address) DO UPDATE SET last_ok = excluded.last_ok, failures = 0, last_error = NULL`,
      )
      .run(peerId, address, now, now);
    prune(raw, peerId);
  }));
}

/** A dial of a remembered address failed: counted, so that dialPlan backs it off. */
export function recordAddressFailed(raw: SqliteConnection, peerId: string, address: string, error: string, now = Date.now()): void {
  raw.withStorageErrors('recording a failed dial', () => raw
    .prepare('UPDATE ahenk_peer_addresses SET failures = failures + 1, last_failure = ?, last_error = ? WHERE peer_id = ? AND address = ?')
    .run(now, error.slice(0, MAX_DIAL_ERROR_LENGTH), peerId, address));
}

/** After a network change every address deserves a fresh try: failures are forgotten (the last error stays). */
export function forgetAddressFailures(raw: SqliteConnection): void {
  raw.withStorageErrors('forgetting failed dials', () => raw.prepare('UPDATE ahenk_peer_addresses SET failures = 0 WHERE failures > 0').run());
}

/** Entries each way in a sync session (so far, or in all). */
export interface SyncCounts {
  sent: number;
  received: number;
}

export function recordPeerSync(raw: SqliteConnection, peerId: string, counts: SyncCounts, now = Date.now()): void {
  raw.withStorageErrors('recording a sync with a peer', () => raw
    .prepare(
      `INSERT INTO ahenk_peers (peer_id, last_seen, last_sync, last_sent, last_received) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (peer_id) DO UPDATE SET last_seen = excluded.last_seen, last_sync = excluded.last_sync,
         last_sent = excluded.last_sent, last_received = excluded.last_received`,
    )
    .run(peerId, now, now, counts.sent, counts.received));
}

/** What the database says of one peer: `ahenk status` without a daemon, and the daemon's answer beneath its live view. */
export interface StoredPeerStatus {
  peerId: string;
  /** On the device list and not revoked: only such peers sync. */
  authorized: boolean;
  addresses: string[];
  lastSeen: number | null;
  /** The last sync session's catch-up (or end): when, and entries each way; null if none yet. */
  lastSync: { at: number; sent: number | null; received: number | null } | null;
  /**
   * Log entries after the position the peer last acknowledged, its own writes left out: what the
   * next session sends at most (superseded ones are skipped). With no acknowledged position yet,
   * the whole log.
   */
  waiting: number;
}

interface StatusRow {
  peer_id: string;
  last_seen: number | null;
  last_sync: number | null;
  last_sent: number | null;
  last_received: number | null;
  waiting: number;
}

/** Every peer remembered in ahenk_peers and every other key on the device list, by peer id. */
export function storedPeerStatuses(raw: SqliteConnection, localPeerId: string): StoredPeerStatus[] {
  // Counted in SQL: acked is a seq, which is an HLC (docs/decisions.md) above 2^53; read as a
  // number it would round down by up to 16 and count rows the peer already holds as waiting.
  const rows = raw
    .prepare(
      `WITH ids AS (SELECT peer_id FROM ahenk_peers UNION SELECT peer_id FROM ahenk_devices WHERE peer_id IS NOT NULL)
       SELECT ids.peer_id, p.last_seen, p.last_sync, p.last_sent, p.last_received,
         (SELECT count(*) FROM ahenk_oplog WHERE seq > coalesce(c.acked, 0) AND site IS NOT (SELECT id FROM ahenk_sites WHERE device = ids.peer_id)) AS waiting
       FROM ids LEFT JOIN ahenk_peers p ON p.peer_id = ids.peer_id LEFT JOIN ahenk_cursors c ON c.peer_id = ids.peer_id
       WHERE ids.peer_id != ? ORDER BY ids.peer_id`,
      { integers: 'number' },
    )
    .all(localPeerId) as unknown as StatusRow[];
  return rows.map((row) => ({
    peerId: row.peer_id,
    authorized: isAuthorizedPeer(raw, row.peer_id),
    addresses: peerAddresses(raw, row.peer_id).map((a) => a.address),
    lastSeen: toNumber(row.last_seen),
    lastSync: row.last_sync === null ? null : { at: Number(row.last_sync), sent: toNumber(row.last_sent), received: toNumber(row.last_received) },
    waiting: Number(row.waiting),
  }));
}

/** The remembered addresses of `peerId` with their records, freshest first. */
export function peerAddresses(raw: SqliteConnection, peerId: string): PeerAddress[] {
  const rows = raw
    .prepare(`SELECT address, learned_at, last_ok, failures, last_failure, last_error FROM ahenk_peer_addresses WHERE peer_id = ? ${ADDRESS_ORDER}`, { integers: 'number' })
    .all(peerId) as unknown as AddressRow[];
  return rows.map((r) => ({
    address: r.address,
    learnedAt: Number(r.learned_at),
    lastOk: toNumber(r.last_ok),
    failures: Number(r.failures),
    lastFailure: toNumber(r.last_failure),
    lastError: r.last_error,
  }));
}

/** How long an address that failed `failures` times in a row is left alone after its last failure. */
export function addressBackoffMs(failures: number): number {
  if (failures <= 0) return 0;
  return Math.min(ADDRESS_BACKOFF_MAX_MS, ADDRESS_BACKOFF_INITIAL_MS * 2 ** (failures - 1));
}

export interface DialPlan {
  /** Addresses to try now, in this order. */
  dial: PeerAddress[];
  /** Addresses left out of this attempt, each with when it may be tried again. */
  backedOff: { address: PeerAddress; retryAt: number }[];
}

/** Which of `addresses` (freshest first) to dial at `now`: the ones whose backoff has run out. */
export function dialPlan(addresses: readonly PeerAddress[], now: number): DialPlan {
  const plan: DialPlan = { dial: [], backedOff: [] };
  for (const address of addresses) {
    const retryAt = (address.lastFailure ?? 0) + addressBackoffMs(address.failures);
    if (address.failures > 0 && retryAt > now) plan.backedOff.push({ address, retryAt });
    else plan.dial.push(address);
  }
  return plan;
}

export function getKnownPeer(raw: SqliteConnection, peerId: string): KnownPeer | undefined {
  const row = raw.prepare('SELECT peer_id, last_seen, last_sync FROM ahenk_peers WHERE peer_id = ?', { integers: 'number' }).get(peerId) as unknown as PeerRow | undefined;
  return row === undefined ? undefined : toKnownPeer(raw, row);
}

export function listKnownPeers(raw: SqliteConnection): KnownPeer[] {
  const rows = raw.prepare('SELECT peer_id, last_seen, last_sync FROM ahenk_peers ORDER BY peer_id', { integers: 'number' }).all() as unknown as PeerRow[];
  return rows.map((row) => toKnownPeer(raw, row));
}

/**
 * The addresses of `peerId` among `candidates` that are worth remembering, as strings without
 * /p2p/<peerId>: parsable multiaddrs of a bounded length that this node can dial, either direct
 * (an IP or DNS host, then TCP on a real port, then at most TLS/SNI/WebSockets) or through a relay
 * (such a direct address of the relay, its /p2p/<relay>, then /p2p-circuit); not a wildcard
 * (0.0.0.0, ::), and naming no other peer as their destination. At most MAX_ADDRESSES_PER_PEER
 * are returned: a peer announcing thousands cannot flood the table. Anything else is dropped,
 * silently: it came from the network.
 */
export function validPeerAddresses(peerId: string, candidates: readonly (string | Multiaddr)[]): string[] {
  const valid = new Set<string>();
  for (const candidate of candidates) {
    if (valid.size >= MAX_ADDRESSES_PER_PEER) break;
    const text = typeof candidate === 'string' ? candidate : candidate.toString();
    if (text.length === 0 || text.length > MAX_ADDRESS_LENGTH) continue;
    let address: Multiaddr;
    try {
      address = typeof candidate === 'string' ? multiaddr(candidate) : candidate;
    } catch {
      continue;
    }
    const components = address.getComponents();
    // A trailing /p2p/<id> must be this peer; what comes before it is what gets dialled.
    const last = components.at(-1);
    if (last?.name === 'p2p') {
      if (last.value !== peerId) continue;
      components.pop();
    }
    if (!isDialable(components)) continue;
    valid.add(stripPeerSuffix(address.toString(), peerId));
  }
  return [...valid];
}

type Component = ReturnType<Multiaddr['getComponents']>[number];

const HOSTS = new Set(['ip4', 'ip6', 'dns', 'dns4', 'dns6']);
const DNS_NAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;
/** What may follow host/tcp/port in an address this node's transports dial. */
const TCP_SUFFIXES = new Set(['tls', 'sni', 'ws', 'wss']);

/** A direct address, or a relay's direct address then /p2p/<relay>/p2p-circuit. */
function isDialable(components: readonly Component[]): boolean {
  if (components.at(-1)?.name === 'p2p-circuit') {
    const relay = components.at(-2);
    return relay?.name === 'p2p' && isDirect(components.slice(0, -2));
  }
  return isDirect(components);
}

function isDirect(components: readonly Component[]): boolean {
  const [host, tcp, ...rest] = components;
  if (host === undefined || !HOSTS.has(host.name) || host.value === undefined || host.value === '0.0.0.0' || host.value === '::') return false;
  // A DNS name from the network ends up in log lines: letters, digits, '-' and '_' in labels of at
  // most 63, nothing that could start a new line or move the cursor.
  if (host.name.startsWith('dns') && !DNS_NAME.test(host.value)) return false;
  if (tcp?.name !== 'tcp' || tcp.value === undefined || Number(tcp.value) < 1) return false;
  return rest.every((c) => TCP_SUFFIXES.has(c.name));
}

function stripPeerSuffix(text: string, peerId: string): string {
  const suffix = `/p2p/${peerId}`;
  return text.endsWith(suffix) ? text.slice(0, -suffix.length) : text;
}

function touchPeer(raw: SqliteConnection, peerId: string, now: number): void {
  raw
    .prepare('INSERT INTO ahenk_peers (peer_id, last_seen) VALUES (?, ?) ON CONFLICT (peer_id) DO UPDATE SET last_seen = excluded.last_seen')
    .run(peerId, now);
}

/** Drops all but the MAX_ADDRESSES_PER_PEER freshest addresses of `peerId`. */
function prune(raw: SqliteConnection, peerId: string): void {
  raw
    .prepare(
      `DELETE FROM ahenk_peer_addresses WHERE peer_id = ? AND address NOT IN (
         SELECT address FROM ahenk_peer_addresses WHERE peer_id = ? ${ADDRESS_ORDER} LIMIT ?)`,
    )
    .run(peerId, peerId, MAX_ADDRESSES_PER_PEER);
}

function toKnownPeer(raw: SqliteConnection, row: PeerRow): KnownPeer {
  return {
    peerId: row.peer_id,
    addresses: peerAddresses(raw, row.peer_id).map((a) => a.address),
    lastSeen: toNumber(row.last_seen),
    lastSync: toNumber(row.last_sync),
  };
}

function toNumber(value: number | bigint | null): number | null {
  return value === null ? null : Number(value);
}
