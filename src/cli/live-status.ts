/**
 * What a running node tells `ahenk status` over its control socket, and how status joins it with
 * what the database says of each peer. The node's answer crosses a socket: it is checked field by
 * field here, as any input is.
 */
import type { RevocationNotice } from '../database/identity.ts';
import type { SyncNode } from '../sync/node/node.ts';
import type { PeerPath } from '../sync/node/events.ts';
import type { StoredPeerStatus } from '../sync/node/peer-store.ts';

/** The node's answer to `{"op":"status"}`. */
export interface LiveStatus {
  pid: number;
  deviceId: string;
  addresses: string[];
  revoked: RevocationNotice | null;
  peers: LivePeer[];
}

export interface LivePeer {
  peerId: string;
  path: PeerPath;
  syncing: boolean;
  addresses: string[];
}

/** One peer as `ahenk status --json` shows it (docs/cli.md). */
export interface PeerStatus {
  peerId: string;
  authorized: boolean;
  /** null when no node runs: nobody knows. */
  connected: boolean | null;
  path: PeerPath | null;
  syncing: boolean | null;
  addresses: string[];
  lastSeen: number | null;
  lastSync: number | null;
  lastSyncSent: number | null;
  lastSyncReceived: number | null;
  waiting: number;
}

/** The answer a node gives (start serves it on the control socket). */
export function liveStatusOf(node: SyncNode): LiveStatus {
  return {
    pid: process.pid,
    deviceId: node.peerId,
    addresses: node.getMultiaddrs(),
    revoked: node.revoked ?? null,
    peers: node.peers().map((p) => ({ peerId: p.peerId, path: p.path, syncing: p.syncing, addresses: p.addresses })),
  };
}

/** The node's answer, checked; undefined when no node answered. A malformed answer is treated as none. */
export function parseLiveStatus(value: unknown): LiveStatus | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (!Number.isSafeInteger(v.pid) || typeof v.deviceId !== 'string' || !Array.isArray(v.peers)) return undefined;
  const revoked = v.revoked as { by?: unknown; at?: unknown } | null | undefined;
  return {
    pid: v.pid as number,
    deviceId: v.deviceId,
    addresses: strings(v.addresses),
    revoked: revoked && typeof revoked.by === 'string' && typeof revoked.at === 'number' ? { by: revoked.by, at: revoked.at } : null,
    peers: v.peers.flatMap((p: unknown): LivePeer[] => {
      if (typeof p !== 'object' || p === null) return [];
      const peer = p as Record<string, unknown>;
      if (typeof peer.peerId !== 'string' || (peer.path !== 'direct' && peer.path !== 'relayed' && peer.path !== 'hole-punched')) return [];
      return [{ peerId: peer.peerId, path: peer.path, syncing: peer.syncing === true, addresses: strings(peer.addresses) }];
    }),
  };
}

/** Every peer the database knows, with the live view where a node runs. */
export function peerStatuses(stored: readonly StoredPeerStatus[], live: LiveStatus | undefined): PeerStatus[] {
  const connected = new Map((live?.peers ?? []).map((p) => [p.peerId, p]));
  return stored.map((p) => {
    const now = connected.get(p.peerId);
    return {
      peerId: p.peerId,
      authorized: p.authorized,
      connected: live === undefined ? null : now !== undefined,
      path: now?.path ?? null,
      syncing: live === undefined ? null : now?.syncing === true,
      addresses: now?.addresses ?? p.addresses,
      lastSeen: p.lastSeen,
      lastSync: p.lastSync?.at ?? null,
      lastSyncSent: p.lastSync?.sent ?? null,
      lastSyncReceived: p.lastSync?.received ?? null,
      waiting: p.waiting,
    };
  });
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((a): a is string => typeof a === 'string') : [];
}
