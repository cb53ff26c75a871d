/** `ahenk peer list`: the peers this device knows how to reach (ahenk_peers). */
import { listKnownPeers } from '../../sync/node/peer-store.ts';
import { DB_OPTION, flag, JSON_OPTION, withDatabase } from '../context.ts';
import { formatTime, writeJson, writeLine, writeTable } from '../io.ts';
import type { CommandSpec } from '../spec.ts';
import { listDevices } from './device.ts';

const listCommand: CommandSpec = {
  name: 'list',
  summary: 'list known peers with their addresses, last seen and last sync',
  options: [DB_OPTION, JSON_OPTION],
  run: (context) =>
    withDatabase(context, async (db) => {
      const raw = db.$connection;
      const devices = listDevices(raw);
      const peers = listKnownPeers(raw).map((peer) => {
        const device = devices.find((d) => d.peerId === peer.peerId);
        return { ...peer, deviceType: device?.deviceType ?? null, revoked: device?.revokedAt != null };
      });
      const { stdout } = context.io;
      if (flag(context, 'json')) return writeJson(stdout, peers);
      if (peers.length === 0) return writeLine(stdout, 'No known peers yet: they are remembered once a node has connected to them (ahenk start, pair, join).');
      writeTable(
        stdout,
        ['PEER ID', 'DEVICE', 'LAST SEEN', 'LAST SYNC', 'ADDRESSES'],
        peers.map((p) => [p.peerId, `${p.deviceType ?? '?'}${p.revoked ? ' (revoked)' : ''}`, formatTime(p.lastSeen), formatTime(p.lastSync), p.addresses.join(' ') || '-']),
      );
    }),
};

export const peerCommand: CommandSpec = {
  name: 'peer',
  summary: 'list the peers this device knows',
  commands: [listCommand],
};
