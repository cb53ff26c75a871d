/**
 * `ahenk start --detach`: the same `ahenk start` as a background process whose output goes to the
 * database's log file. Returns once the daemon has logged its start line, so the caller gets its
 * listen addresses (or its error) rather than a pid that may die a moment later.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { databasePath, flag, stringOption, stringsOption, withDatabase } from '../context.ts';
import { CommandFailedError, EXIT } from '../errors.ts';
import { rotatedLogFile } from '../daemon-log.ts';
import { writeJson, writeLine } from '../io.ts';
import { parseLogLine, prettyLogLine } from '../log-format.ts';
import type { CommandContext } from '../spec.ts';
import { DAEMON_ENV, daemonFiles, readDaemon, refuseIfDaemonRunning, removePidFile, type DaemonFiles } from './daemon-files.ts';

const BIN = fileURLToPath(new URL('../../../bin/ahenk.js', import.meta.url));
/** libp2p starts in about a second here (plus tsx compiling the sources in a checkout); a loaded machine gets more. */
const START_TIMEOUT_MS = 30_000;
/** How often the log is read while waiting for the start line. */
const POLL_MS = 50;

export async function startDetached(context: CommandContext): Promise<number> {
  // Check the file as a foreground start would (it is there, writable, an Ahenk database, no node holds
  // it by any name), so a typo fails here and not in a log nobody reads. The daemon takes the lock itself.
  await withDatabase(context, async () => undefined, { node: true });
  const files = daemonFiles(databasePath(context));
  // Past the check, a pid file left behind names a process that is gone: replace it.
  const stale = readDaemon(files);
  if (stale.pid === undefined) rmSync(files.pidFile, { force: true });
  else if (!stale.running) removePidFile(files, stale.pid);

  // The child's stderr (anything before its logger, a crash) goes to the log as well.
  const log = openSync(files.logFile, 'a', 0o600);
  const since = logPosition(files.logFile);
  let child;
  try {
    child = spawn(process.execPath, [BIN, ...childArgs(context, files.database)], {
      detached: true,
      stdio: ['ignore', log, log],
      cwd: context.io.cwd,
      env: { ...context.io.env, [DAEMON_ENV]: '1' },
    });
  } finally {
    closeSync(log);
  }
  const pid = child.pid;
  if (pid === undefined) throw new CommandFailedError(`could not start the daemon (${process.execPath} ${BIN})`);
  let exitCode: number | undefined;
  child.once('exit', (code) => (exitCode = code ?? EXIT.failure));
  child.once('error', () => (exitCode = EXIT.failure));
  try {
    // Exclusive create: of two `start --detach` racing past the check above, one wins the file.
    writeFileSync(files.pidFile, `${pid}\n`, { flag: 'wx', mode: 0o644 });
  } catch (error) {
    child.kill('SIGTERM');
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') refuseIfDaemonRunning(files);
    throw error;
  }

  const deadline = Date.now() + START_TIMEOUT_MS;
  let started: Started | undefined;
  const { signal } = context.io;
  while (started === undefined && exitCode === undefined && Date.now() < deadline && !signal?.aborted) {
    await sleep(POLL_MS);
    started = findStart(readSince(files.logFile, since));
  }
  if (started === undefined && signal?.aborted) {
    // Ctrl-C while waiting: the daemon is in its own process group and did not get it; take it down too.
    child.kill('SIGTERM');
    removePidFile(files, pid);
    return EXIT.interrupted;
  }
  if (started === undefined) {
    // The daemon failed (its error is in the log) or hangs: either way it is not running for the user.
    if (exitCode === undefined) child.kill('SIGTERM');
    removePidFile(files, pid);
    const output = readSince(files.logFile, since).split('\n').filter((line) => line !== '');
    for (const line of output) writeLine(context.io.stderr, prettyLogLine(parseLogLine(line), false));
    if (exitCode !== undefined) return exitCode === 0 ? EXIT.failure : exitCode;
    throw new CommandFailedError(`the daemon did not report a start within ${START_TIMEOUT_MS / 1000} s; stopped it (log: ${files.logFile})`);
  }
  // The listen lines follow the start line in the same tick; one more read picks up any not yet seen.
  await sleep(POLL_MS);
  started = findStart(readSince(files.logFile, since)) ?? started;
  child.unref();
  report(context, files, pid, started);
  return EXIT.ok;
}

/** The daemon runs exactly the foreground command with the flags given here. */
function childArgs(context: CommandContext, database: string): string[] {
  const args = ['start', '--db', database];
  for (const name of ['listen', 'peer', 'relay']) for (const value of stringsOption(context, name)) args.push(`--${name}`, value);
  for (const [name, option] of [['port', 'port'], ['logLevel', 'log-level'], ['logMaxSize', 'log-max-size'], ['logFiles', 'log-files']] as const) {
    const value = stringOption(context, name);
    if (value !== undefined) args.push(`--${option}`, value);
  }
  for (const name of ['mdns', 'verbose']) if (flag(context, name)) args.push(`--${name}`);
  return args;
}

interface Started {
  deviceId: string | undefined;
  addresses: string[];
}

/** The daemon's start line in its JSON log: its device id and listen addresses. */
function findStart(text: string): Started | undefined {
  const lines = text.split('\n');
  lines.pop(); // the last piece is an unfinished line (or empty)
  for (const line of lines) {
    const json = parseJson(line);
    if (json?.event !== 'start') continue;
    const addresses = Array.isArray(json.addresses) ? json.addresses.filter((a): a is string => typeof a === 'string') : [];
    return { deviceId: typeof json.deviceId === 'string' ? json.deviceId : undefined, addresses };
  }
  return undefined;
}

function parseJson(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function report(context: CommandContext, files: DaemonFiles, pid: number, started: Started): void {
  const { stdout } = context.io;
  if (flag(context, 'json')) {
    return writeJson(stdout, { pid, database: files.database, pidFile: files.pidFile, logFile: files.logFile, deviceId: started.deviceId ?? null, addresses: started.addresses });
  }
  writeLine(stdout, `Started the daemon for ${files.database} (pid ${pid}).`);
  writeLine(stdout, `Log: ${files.logFile} (ahenk logs --db ${files.database} --follow)`);
  for (const address of started.addresses) writeLine(stdout, `Listening on ${address}`);
  writeLine(stdout, `Stop it with: ahenk stop --db ${files.database}`);
}

/** Where the log ended when the daemon was started: its file and size. */
interface LogPosition {
  ino: number | undefined;
  size: number;
}

function logPosition(path: string): LogPosition {
  try {
    const stat = statSync(path);
    return { ino: stat.ino, size: stat.size };
  } catch {
    return { ino: undefined, size: 0 };
  }
}

/**
 * What the daemon wrote to its log since `since`. The daemon rotates the log itself, possibly with
 * its first line: then the rest of the file it started in is `.1`, followed by the new file.
 */
function readSince(path: string, since: LogPosition): string {
  const now = logPosition(path);
  if (now.ino === since.ino) return readFrom(path, since.size);
  const older = rotatedLogFile(path, 1);
  return (logPosition(older).ino === since.ino ? readFrom(older, since.size) : '') + readFrom(path, 0);
}

/** The file's text from byte `offset` on; nothing when it cannot be read. */
function readFrom(path: string, offset: number): string {
  let fd;
  try {
    fd = openSync(path, 'r');
  } catch {
    return '';
  }
  try {
    const size = statSync(path).size;
    if (size <= offset) return '';
    const buffer = Buffer.alloc(size - offset);
    const read = readSync(fd, buffer, 0, buffer.length, offset);
    return buffer.subarray(0, read).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
