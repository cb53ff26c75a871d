/** `ahenk stop`: stops the background daemon of a database (started with `ahenk start --detach`). */
import { rmSync } from 'node:fs';
import { DB_OPTION, databasePath, secondsOption } from '../context.ts';
import { CommandFailedError, EXIT } from '../errors.ts';
import { writeLine } from '../io.ts';
import type { CommandSpec } from '../spec.ts';
import { daemonFiles, hasExited, isDaemonProcess, readDaemon, removePidFile } from './daemon-files.ts';

/** A node closes its connections and its database within a second here; ten leaves room for a slow disk. */
const STOP_TIMEOUT_MS = 10_000;
const POLL_MS = 50;

export const stopCommand: CommandSpec = {
  name: 'stop',
  summary: 'stop the background sync node of the database (started with start --detach)',
  description:
    'Sends SIGTERM to the daemon of the database (the pid in <db>.ahenk.pid), waits for it to stop ' +
    'its node and exit, and removes the pid file. Exits 1 when no daemon is running, or when it has ' +
    'not exited within --timeout.',
  options: [DB_OPTION, { flags: '--timeout <seconds>', description: 'how long to wait for the daemon to exit (default 10)' }],
  run: async (context) => {
    const files = daemonFiles(databasePath(context));
    const timeoutMs = secondsOption(context, 'timeout', '--timeout', STOP_TIMEOUT_MS);
    const { pid, running } = readDaemon(files);
    if (pid === undefined || !running) {
      rmSync(files.pidFile, { force: true });
      const stale = pid === undefined ? '' : ` (removed a stale pid file naming pid ${pid})`;
      throw new CommandFailedError(`no daemon is running for ${files.database}${stale}`);
    }
    try {
      process.kill(pid, 'SIGTERM');
    } catch (error) {
      throw new CommandFailedError(`cannot signal the daemon (pid ${pid}): ${(error as Error).message}`, undefined, { cause: error });
    }
    const deadline = Date.now() + timeoutMs;
    // Until the daemon has exited entirely (its command line empties while it is still exiting, so
    // isDaemonProcess, which picked the pid above, cannot tell).
    while (!hasExited(pid)) {
      if (Date.now() >= deadline) {
        throw new CommandFailedError(`the daemon (pid ${pid}) has not exited within ${timeoutMs / 1000} s; it may still be stopping (kill -KILL ${pid} forces it)`);
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    removePidFile(files, pid);
    writeLine(context.io.stdout, `Stopped the daemon for ${files.database} (pid ${pid}).`);
    return EXIT.ok;
  },
};
