/** `ahenk start`: runs the sync node in the foreground until SIGINT/SIGTERM, or (--detach) in the background. */
import { getDeviceId } from '../../database/identity.ts';
import { DB_OPTION, flag, JSON_OPTION, stringOption, withDatabase } from '../context.ts';
import { controlSocketPath, serveControlSocket, type ControlServer } from '../control-socket.ts';
import { createDaemonLogger, DEFAULT_LOG_FILES, DEFAULT_LOG_MAX_BYTES, LOG_LEVELS, parseLogFiles, parseLogLevel, parseLogSize, RotatingLogFile, type LogLevel } from '../daemon-log.ts';
import { CommandFailedError, UsageError } from '../errors.ts';
import { liveStatusOf } from '../live-status.ts';
import { DAEMON_LISTEN_ADDRESSES, EventLog, NODE_OPTIONS, startNode, untilAborted } from '../node.ts';
import type { CommandContext, CommandSpec } from '../spec.ts';
import { DAEMON_ENV, daemonFiles, removePidFile, writePidFile } from './daemon-files.ts';
import { startDetached } from './detach.ts';

export const startCommand: CommandSpec = {
  name: 'start',
  summary: 'run the sync node in the foreground (Ctrl-C stops it), or in the background with --detach',
  description:
    'Starts a sync node on the database and syncs with every device on the device list it can reach: ' +
    'the peers given with --peer, the peers remembered from earlier runs, and (with --mdns) the LAN. ' +
    'Prints one line per event; SIGINT or SIGTERM stops it cleanly with exit code 0. ' +
    'With --detach it runs as a background daemon writing a JSON log (pino) to <db>.ahenk.log, rotated by size ' +
    '(ahenk logs, ahenk stop). ' +
    'While it runs, ahenk status asks it over the owner-only socket <db>.ahenk.sock which peers are connected.',
  options: [
    DB_OPTION,
    ...NODE_OPTIONS,
    { ...JSON_OPTION, description: 'print each event as one JSON object per line' },
    { flags: '--detach', description: 'run in the background: write <db>.ahenk.pid, log to <db>.ahenk.log, print the pid and addresses, exit' },
    { flags: '--log-level <level>', description: `with --detach: the lowest level the log keeps, one of ${LOG_LEVELS.join(', ')} (default info; debug with --verbose)` },
    { flags: '--log-max-size <size>', description: `with --detach: rotate the log before it passes this size, e.g. 10M or 512k (default ${DEFAULT_LOG_MAX_BYTES / 1024 ** 2}M)` },
    { flags: '--log-files <count>', description: `with --detach: how many rotated logs (<db>.ahenk.log.1 …) to keep (default ${DEFAULT_LOG_FILES})` },
  ],
  run: async (context) => {
    // Checked before anything starts, so a bad flag fails here and not in a log nobody reads.
    const logOptions = daemonLogOptions(context);
    if (flag(context, 'detach')) return startDetached(context);
    // The daemon itself is the process its pid file names (start --detach wrote it).
    const isDaemon = context.io.env[DAEMON_ENV] === '1';
    if (!isDaemon && logOptions.given) throw new UsageError('--log-level, --log-max-size and --log-files set up the daemon\'s log: use them with --detach');
    // The node lock is taken before anything is written: a second node on the file, by any path, stops here.
    await withDatabase(
      context,
      async (db) => {
        const files = daemonFiles(db.path);
        if (!isDaemon) writePidFile(files, process.pid);
        const logFile = isDaemon ? new RotatingLogFile(files.logFile, logOptions) : undefined;
        const logger = logFile === undefined ? undefined : createDaemonLogger(logFile, logOptions.level);
        try {
          const log = new EventLog(context.io, flag(context, 'json'), logger);
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
        } catch (error) {
          // The daemon's stderr is the log file it was started with, which may have been rotated away since.
          logger?.fatal({ event: 'fatal', message: (error as Error).message }, `stopped by an error: ${(error as Error).message}`);
          throw error;
        } finally {
          logFile?.close();
          // Foreground or daemon (stopped by a plain `kill` too), the pid file goes with the node.
          removePidFile(files, process.pid);
        }
      },
      { node: true },
    );
  },
};

interface DaemonLogOptions {
  level: LogLevel;
  maxBytes: number;
  files: number;
  /** Any of the log flags was on the command line. */
  given: boolean;
}

function daemonLogOptions(context: CommandContext): DaemonLogOptions {
  const level = stringOption(context, 'logLevel');
  const size = stringOption(context, 'logMaxSize');
  const files = stringOption(context, 'logFiles');
  return {
    level: level === undefined ? (flag(context, 'verbose') ? 'debug' : 'info') : parseLogLevel(level, '--log-level'),
    maxBytes: size === undefined ? DEFAULT_LOG_MAX_BYTES : parseLogSize(size, '--log-max-size'),
    files: files === undefined ? DEFAULT_LOG_FILES : parseLogFiles(files, '--log-files'),
    given: level !== undefined || size !== undefined || files !== undefined,
  };
}

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
