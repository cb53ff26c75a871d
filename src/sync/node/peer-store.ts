/**
 * Known peers, persisted in ahenk_peers: where each authorized device was last reachable, when it
 * was last seen and last synced. A restarted node dials them again without any configuration.
 * Times are milliseconds since the Unix epoch.
 */
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

export function recordPeerSync(raw: SqliteConnection, peerId: string, now = Date.now()): void {
  raw
    .prepare(
      `INSERT INTO ahenk_peers (peer_id, last_seen, last_sync) VALUES (?, ?, ?)
       ON CONFLICT (peer_id) DO UPDATE SET last_seen = excluded.last_seen, last_sync = excluded.last_sync`,
    )
    .run(peerId, now, now);
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
