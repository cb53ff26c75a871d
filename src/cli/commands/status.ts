/** `ahenk status`: what this database holds and whom it syncs with. */
import type { SqliteConnection } from '../../sqlite/index.ts';
import { countQuarantined } from '../../merge/quarantine.ts';
import { getClockDrift, type ClockDriftReport } from '../../merge/drift.ts';
import { getSchemaVersion, KNOWN_SCHEMA_VERSION } from '../../database/initialize.ts';
import { getDeviceId, readRevocationNotice } from '../../database/identity.ts';
import { readKeptPort } from '../../sync/node/listen-port.ts';
import { storedPeerStatuses } from '../../sync/node/peer-store.ts';
import { DB_OPTION, flag, JSON_OPTION, quoteName, withDatabase } from '../context.ts';
import { controlSocketPath, queryControlSocket } from '../control-socket.ts';
import { formatTime, writeJson, writeLine, writeTable } from '../io.ts';
import { parseLiveStatus, peerStatuses, type PeerStatus } from '../live-status.ts';
import type { CommandSpec } from '../spec.ts';
import { daemonFiles, readDaemon } from './daemon-files.ts';

export interface SyncedTableStatus {
  name: string;
  /** Rows in the table now; null when the table is registered but missing from this file. */
  rows: number | null;
  /** Ahenk's own synced tables (the device list) as opposed to the app's. */
  system: boolean;
}

export const statusCommand: CommandSpec = {
  name: 'status',
  summary: 'show the device id, schema version, synced tables, oplog, quarantine, listen port, and each peer: connected, last sync, entries waiting',
  description:
    'Reads the database, and asks the running node (ahenk start, foreground or --detach) over its control ' +
    'socket <db>.ahenk.sock which peers are connected and how (direct or relayed). Without a running node, ' +
    'says so and shows what the database knows: last seen, last sync, entries waiting to be sent.',
  options: [DB_OPTION, JSON_OPTION],
  run: (context) =>
    withDatabase(context, async (db) => {
      const raw = db.$connection;
      const daemon = readDaemon(daemonFiles(db.path));
      const deviceId = getDeviceId(raw);
      const live = parseLiveStatus(await queryControlSocket(controlSocketPath(db.path)));
      const revoked = live?.revoked ?? readRevocationNotice(raw) ?? null;
      const status = {
        database: db.path,
        deviceId,
        schemaVersion: getSchemaVersion(db),
        knownSchemaVersion: KNOWN_SCHEMA_VERSION,
        accounts: raw.prepare('SELECT user_name FROM ahenk_users ORDER BY created_at, id').values().map(([name]) => name as string),
        tables: syncedTables(raw),
        oplogEntries: count(raw, 'SELECT count(*) FROM ahenk_oplog'),
        quarantined: countQuarantined(db),
        listenPort: readKeptPort(raw) ?? null,
        webSocketPort: readKeptPort(raw, 'ws') ?? null,
        daemon: daemon.running ? { pid: daemon.pid } : live === undefined ? null : { pid: live.pid },
        node: { running: live !== undefined, pid: live?.pid ?? null, addresses: live?.addresses ?? [] },
        revoked,
        peers: peerStatuses(storedPeerStatuses(raw, deviceId), live),
        clockDrift: getClockDrift(db),
      };
      const { stdout } = context.io;
      if (flag(context, 'json')) return writeJson(stdout, status);
      writeLine(stdout, `Database:       ${status.database}`);
      writeLine(stdout, `Device id:      ${status.deviceId}`);
      writeLine(stdout, `Schema version: ${status.schemaVersion} (this Ahenk knows ${status.knownSchemaVersion})`);
      writeLine(stdout, `Accounts:       ${status.accounts.length === 0 ? 'none (ahenk init --user, or ahenk join)' : status.accounts.join(', ')}`);
      writeLine(stdout, `Oplog entries:  ${status.oplogEntries}`);
      writeLine(stdout, `Quarantined:    ${status.quarantined}`);
      writeLine(stdout, `Listen port:    ${status.listenPort ?? 'not chosen yet (the first start keeps a free one)'}`);
      if (status.webSocketPort !== null) writeLine(stdout, `WebSocket port: ${status.webSocketPort}`);
      for (const line of clockDriftLines(status.clockDrift)) writeLine(stdout, line);
      writeLine(stdout, `Daemon:         ${status.daemon === null ? 'not running' : `running (pid ${status.daemon.pid})`}`);
      if (!status.node.running) writeLine(stdout, 'Node:           not running (connections unknown; last sync and waiting entries are from the database)');
      if (revoked !== null) {
        writeLine(stdout, `Revoked:        yes: ${revoked.by} refused this device as revoked (${formatTime(revoked.at)}); it no longer syncs.`);
        writeLine(stdout, '                Its writes stay here. To bring it back: ahenk reset-identity, then pair it again (ahenk pair / ahenk join).');
      }
      writeLine(stdout);
      writeTable(
        stdout,
        ['TABLE', 'ROWS'],
        status.tables.map((t) => [t.system ? `${t.name} (system)` : t.name, t.rows === null ? 'missing' : String(t.rows)]),
      );
      writeLine(stdout);
      if (status.peers.length === 0) writeLine(stdout, 'Known peers: none yet');
      else writeTable(stdout, ['PEER', 'STATE', 'LAST SEEN', 'LAST SYNC', 'SENT/RECEIVED', 'WAITING'], status.peers.map(peerRow));
    }),
};

function peerRow(p: PeerStatus): string[] {
  const state = !p.authorized ? 'not on the device list' : p.connected === null ? '-' : p.connected ? `connected (${p.path}${p.syncing ? ', syncing' : ''})` : 'not connected';
  const counts = p.lastSyncSent === null || p.lastSyncReceived === null ? '-' : `${p.lastSyncSent}/${p.lastSyncReceived}`;
  return [p.peerId, state, formatTime(p.lastSeen), formatTime(p.lastSync), counts, String(p.waiting)];
}

/** The clock-drift lines of status: nothing when there is no drift to tell. */
export function clockDriftLines(drift: ClockDriftReport): string[] {
  const lines: string[] = [];
  if (drift.ownAhead) {
    lines.push(`Clock drift:    this device's stamps run ${minutes(drift.ownAheadMs)} ahead of its clock (allowance ${minutes(drift.maxDriftMs)}): peers hold its writes back (docs/decisions.md, "Clock drift")`);
  }
  for (const held of drift.held) {
    const when = held.aheadMs > drift.maxDriftMs ? `until ${new Date(held.dueAt).toISOString()}` : 'due now: applied by the running node or the next open';
    lines.push(`Clock drift:    ${held.entries} writes of ${held.device} held back, stamped up to ${minutes(held.aheadMs)} ahead of this device's clock; ${when}`);
  }
  for (const told of drift.heldByPeers) {
    lines.push(
      `Clock drift:    ${told.peerId} holds back ${told.held} of this device's writes, stamped up to ${minutes(told.aheadMs)} ahead of its clock ` +
        `(told ${new Date(told.at).toISOString()}; until ${new Date(told.until).toISOString()} at the latest): this device's clock runs ahead, or that one's behind (docs/decisions.md, "Clock drift")`,
    );
  }
  return lines;
}

function minutes(ms: number): string {
  return `${+(ms / 60_000).toFixed(1)} min`;
}

function syncedTables(raw: SqliteConnection): SyncedTableStatus[] {
  const names = raw.prepare('SELECT name FROM ahenk_tables ORDER BY id').values().map(([name]) => name as string);
  return names.map((name) => {
    const exists = raw.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(name) !== undefined;
    return { name, rows: exists ? count(raw, `SELECT count(*) FROM ${quoteName(name)}`) : null, system: name.startsWith('ahenk_') };
  });
}

function count(raw: SqliteConnection, sql: string): number {
  return Number(raw.prepare(sql).value());
}
