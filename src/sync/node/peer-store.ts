/**
 * Known peers, persisted in ahenk_peers: where each authorized device was last reachable, when it
 * was last seen and last synced. A restarted node dials them again without any configuration.
 * Times are milliseconds since the Unix epoch.
 */
import { isAuthorizedPeer } from '../../auth/devices.ts';
import type { SqliteConnection } from '../../sqlite/index.ts';
import { MAX_ADDRESSES_PER_PEER } from './constants.ts';

export interface KnownPeer {
  peerId: string;
  /** Multiaddr strings, most recently learned first. */
  addresses: string[];
  lastSeen: number | null;
  lastSync: number | null;
}

interface PeerRow {
  peer_id: string;
  addresses: string;
  last_seen: number | null;
  last_sync: number | null;
}

/** Records that `peerId` was seen now, merging `addresses` in front of the ones already known. */
export function rememberPeer(raw: SqliteConnection, peerId: string, addresses: readonly string[], now = Date.now()): void {
  raw.transaction(() => {
    const row = raw.prepare('SELECT addresses FROM ahenk_peers WHERE peer_id = ?').get(peerId) as Pick<PeerRow, 'addresses'> | undefined;
    const merged = [...new Set([...addresses, ...parseAddresses(row?.addresses)])].slice(0, MAX_ADDRESSES_PER_PEER);
    raw
      .prepare(
        `INSERT INTO ahenk_peers (peer_id, addresses, last_seen) VALUES (?, ?, ?)
         ON CONFLICT (peer_id) DO UPDATE SET addresses = excluded.addresses, last_seen = excluded.last_seen`,
      )
      .run(peerId, JSON.stringify(merged), now);
  });
}

/** Entries each way in a sync session (so far, or in all). */
export interface SyncCounts {
  sent: number;
  received: number;
}

export function recordPeerSync(raw: SqliteConnection, peerId: string, counts: SyncCounts, now = Date.now()): void {
  raw
    .prepare(
      `INSERT INTO ahenk_peers (peer_id, last_seen, last_sync, last_sent, last_received) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (peer_id) DO UPDATE SET last_seen = excluded.last_seen, last_sync = excluded.last_sync,
         last_sent = excluded.last_sent, last_received = excluded.last_received`,
    )
    .run(peerId, now, now, counts.sent, counts.received);
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
  addresses: string | null;
  last_seen: number | null;
  last_sync: number | null;
  last_sent: number | null;
  last_received: number | null;
  acked: number | null;
}

/** Every peer remembered in ahenk_peers and every other key on the device list, by peer id. */
export function storedPeerStatuses(raw: SqliteConnection, localPeerId: string): StoredPeerStatus[] {
  const rows = raw
    .prepare(
      `WITH ids AS (SELECT peer_id FROM ahenk_peers UNION SELECT peer_id FROM ahenk_devices WHERE peer_id IS NOT NULL)
       SELECT ids.peer_id, p.addresses, p.last_seen, p.last_sync, p.last_sent, p.last_received, c.acked
       FROM ids LEFT JOIN ahenk_peers p ON p.peer_id = ids.peer_id LEFT JOIN ahenk_cursors c ON c.peer_id = ids.peer_id
       WHERE ids.peer_id != ? ORDER BY ids.peer_id`,
      { integers: 'number' },
    )
    .all(localPeerId) as unknown as StatusRow[];
  const waiting = raw.prepare(
    'SELECT count(*) FROM ahenk_oplog WHERE seq > ? AND site IS NOT (SELECT id FROM ahenk_sites WHERE device = ?)',
    { integers: 'number' },
  );
  return rows.map((row) => ({
    peerId: row.peer_id,
    authorized: isAuthorizedPeer(raw, row.peer_id),
    addresses: parseAddresses(row.addresses ?? undefined),
    lastSeen: toNumber(row.last_seen),
    lastSync: row.last_sync === null ? null : { at: Number(row.last_sync), sent: toNumber(row.last_sent), received: toNumber(row.last_received) },
    waiting: Number(waiting.value(row.acked ?? 0, row.peer_id)),
  }));
}

export function getKnownPeer(raw: SqliteConnection, peerId: string): KnownPeer | undefined {
  const row = raw.prepare('SELECT peer_id, addresses, last_seen, last_sync FROM ahenk_peers WHERE peer_id = ?', { integers: 'number' }).get(peerId) as unknown as PeerRow | undefined;
  return row === undefined ? undefined : toKnownPeer(row);
}

export function listKnownPeers(raw: SqliteConnection): KnownPeer[] {
  const rows = raw.prepare('SELECT peer_id, addresses, last_seen, last_sync FROM ahenk_peers ORDER BY peer_id', { integers: 'number' }).all() as unknown as PeerRow[];
  return rows.map(toKnownPeer);
}

function toKnownPeer(row: PeerRow): KnownPeer {
  return { peerId: row.peer_id, addresses: parseAddresses(row.addresses), lastSeen: toNumber(row.last_seen), lastSync: toNumber(row.last_sync) };
}

// The column is written by this module, but a hand-edited or damaged row must not stop the node.
function parseAddresses(json: string | undefined): string[] {
  if (json === undefined) return [];
  try {
    const value: unknown = JSON.parse(json);
    return Array.isArray(value) ? value.filter((a): a is string => typeof a === 'string') : [];
  } catch {
    return [];
  }
}

function toNumber(value: number | bigint | null): number | null {
  return value === null ? null : Number(value);
}
