/** `ahenk start`: runs the sync node in the foreground until SIGINT/SIGTERM, or (--detach) in the background. */
import { getDeviceId } from '../../database/identity.ts';
import { DB_OPTION, flag, JSON_OPTION, withDatabase } from '../context.ts';
import { controlSocketPath, serveControlSocket, type ControlServer } from '../control-socket.ts';
import { CommandFailedError } from '../errors.ts';
import { liveStatusOf } from '../live-status.ts';
import { DAEMON_LISTEN_ADDRESSES, EventLog, NODE_OPTIONS, startNode, untilAborted } from '../node.ts';
import type { CommandSpec } from '../spec.ts';
import { DAEMON_ENV, daemonFiles, removePidFile, writePidFile } from './daemon-files.ts';
import { startDetached } from './detach.ts';

export const startCommand: CommandSpec = {
  name: 'start',
  summary: 'run the sync node in the foreground (Ctrl-C stops it), or in the background with --detach',
  description:
    'Starts a sync node on the database and syncs with every device on the device list it can reach: ' +
    'the peers given with --peer, the peers remembered from earlier runs, and (with --mdns) the LAN. ' +
    'Prints one line per event; SIGINT or SIGTERM stops it cleanly with exit code 0. ' +
    'With --detach it runs as a background daemon logging to <db>.ahenk.log (ahenk logs, ahenk stop). ' +
    'While it runs, ahenk status asks it over the owner-only socket <db>.ahenk.sock which peers are connected.',
  options: [
    DB_OPTION,
    ...NODE_OPTIONS,
    { ...JSON_OPTION, description: 'print each event as one JSON object per line' },
    { flags: '--detach', description: 'run in the background: write <db>.ahenk.pid, log to <db>.ahenk.log, print the pid and addresses, exit' },
  ],
  run: async (context) => {
    if (flag(context, 'detach')) return startDetached(context);
    // The daemon itself is the process its pid file names (start --detach wrote it).
    const isDaemon = context.io.env[DAEMON_ENV] === '1';
    // The node lock is taken before anything is written: a second node on the file, by any path, stops here.
    await withDatabase(
      context,
      async (db) => {
        const files = daemonFiles(db.path);
        if (!isDaemon) writePidFile(files, process.pid);
        try {
          const log = new EventLog(context.io, flag(context, 'json'));
          const node = await startNode(db, context, log, { listenAddresses: [...DAEMON_LISTEN_ADDRESSES] });
          const unfollow = log.follow(node);
          const hideProgress = log.showProgress(node);
          let control: ControlServer | undefined;
          try {
            control = await serveControl(db.path, node, log);
            log.line('start', { deviceId: getDeviceId(db.$connection), addresses: node.getMultiaddrs() }, `started ${node.peerId}`);
            for (const address of node.getMultiaddrs()) log.line('listen', { address }, `listening on ${address}`);
            if (node.revoked !== undefined) log.revoked(node.revoked.by, node.revoked.at);
            await untilAborted(context.io.signal);
            log.line('stop', {}, 'stopping');
          } finally {
            await control?.close();
            await node.stop();
            hideProgress();
            unfollow();
          }
          log.line('stopped', {}, 'stopped');
        } finally {
          // Foreground or daemon (stopped by a plain `kill` too), the pid file goes with the node.
          removePidFile(files, process.pid);
        }
      },
      { node: true },
    );
  },
};

/**
 * The control socket `ahenk status` asks. A symlink or a foreign file at its path stops the start
 * (CommandFailedError); a path the OS cannot bind (too long for a socket address, a read-only
 * folder) only costs the live view, so the node runs on and says so.
 */
async function serveControl(database: string, node: Parameters<typeof liveStatusOf>[0], log: EventLog): Promise<ControlServer | undefined> {
  const path = controlSocketPath(database);
  try {
    return await serveControlSocket(path, new Map([['status', () => liveStatusOf(node)]]));
  } catch (error) {
    if (error instanceof CommandFailedError) throw error;
    const message = `no control socket at ${path} (${(error as Error).message}): ahenk status will not see this node's connections`;
    log.line('warning', { message }, `warning: ${message}`);
    return undefined;
  }
}
