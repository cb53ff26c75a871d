/** `ahenk start`: runs the sync node in the foreground until SIGINT/SIGTERM, or (--detach) in the background. */
import { getDeviceId } from '../../database/identity.ts';
import { databasePath, DB_OPTION, flag, JSON_OPTION, withDatabase } from '../context.ts';
import { EventLog, NODE_OPTIONS, startNode, untilAborted } from '../node.ts';
import type { CommandSpec } from '../spec.ts';
import { claimPidFile, DAEMON_ENV, daemonFiles, removePidFile } from './daemon-files.ts';
import { startDetached } from './detach.ts';

export const startCommand: CommandSpec = {
  name: 'start',
  summary: 'run the sync node in the foreground (Ctrl-C stops it), or in the background with --detach',
  description:
    'Starts a sync node on the database and syncs with every device on the device list it can reach: ' +
    'the peers given with --peer, the peers remembered from earlier runs, and (with --mdns) the LAN. ' +
    'Prints one line per event; SIGINT or SIGTERM stops it cleanly with exit code 0. ' +
    'With --detach it runs as a background daemon logging to <db>.ahenk.log (ahenk logs, ahenk stop).',
  options: [
    DB_OPTION,
    ...NODE_OPTIONS,
    { ...JSON_OPTION, description: 'print each event as one JSON object per line' },
    { flags: '--detach', description: 'run in the background: write <db>.ahenk.pid, log to <db>.ahenk.log, print the pid and addresses, exit' },
  ],
  run: async (context) => {
    if (flag(context, 'detach')) return startDetached(context);
    const files = daemonFiles(databasePath(context));
    // The daemon itself is the process its pid file names; anyone else would be a second node with its identity.
    const isDaemon = context.io.env[DAEMON_ENV] === '1';
    if (!isDaemon) claimPidFile(files, process.pid);
    try {
      await withDatabase(context, async (db) => {
        const log = new EventLog(context.io, flag(context, 'json'));
        const node = await startNode(db, context, log);
        const unfollow = log.follow(node);
        const hideProgress = log.showProgress(node);
        try {
          log.line('start', { deviceId: getDeviceId(db.$connection), addresses: node.getMultiaddrs() }, `started ${node.peerId}`);
          for (const address of node.getMultiaddrs()) log.line('listen', { address }, `listening on ${address}`);
          await untilAborted(context.io.signal);
          log.line('stop', {}, 'stopping');
        } finally {
          await node.stop();
          hideProgress();
          unfollow();
        }
        log.line('stopped', {}, 'stopped');
      });
    } finally {
      // Foreground or daemon (stopped by a plain `kill` too), the pid file goes with the node.
      removePidFile(files, process.pid);
    }
  },
};
