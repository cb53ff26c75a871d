/** `ahenk start`: runs the sync node in the foreground until SIGINT/SIGTERM. */
import { getDeviceId } from '../../database/identity.ts';
import { DB_OPTION, flag, JSON_OPTION, withDatabase } from '../context.ts';
import { EventLog, NODE_OPTIONS, startNode, untilAborted } from '../node.ts';
import type { CommandSpec } from '../spec.ts';

export const startCommand: CommandSpec = {
  name: 'start',
  summary: 'run the sync node in the foreground (Ctrl-C stops it)',
  description:
    'Starts a sync node on the database and syncs with every device on the device list it can reach: ' +
    'the peers given with --peer, the peers remembered from earlier runs, and (with --mdns) the LAN. ' +
    'Prints one line per event; SIGINT or SIGTERM stops it cleanly with exit code 0.',
  options: [DB_OPTION, ...NODE_OPTIONS, { ...JSON_OPTION, description: 'print each event as one JSON object per line' }],
  run: (context) =>
    withDatabase(context, async (db) => {
      const log = new EventLog(context.io, flag(context, 'json'));
      const node = await startNode(db, context, log);
      const unfollow = log.follow(node);
      try {
        log.line('start', { deviceId: getDeviceId(db.$client), addresses: node.getMultiaddrs() }, `started ${node.peerId}`);
        for (const address of node.getMultiaddrs()) log.line('listen', { address }, `listening on ${address}`);
        await untilAborted(context.io.signal);
        log.line('stop', {}, 'stopping');
      } finally {
        await node.stop();
        unfollow();
      }
      log.line('stopped', {}, 'stopped');
    }),
};
