/**
 * Where a database's background daemon leaves its traces, and whether one is running. The files sit
 * next to the database (`<db>.ahenk.pid`, `<db>.ahenk.log`), so each database has at most one
 * daemon and any command given the same --db finds it.
 */
import { existsSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CommandFailedError } from '../errors.ts';

export interface DaemonFiles {
  database: string;
  pidFile: string;
  logFile: string;
}

/** Set in the daemon's environment by `start --detach`: that process is the one the pid file names. */
export const DAEMON_ENV = 'AHENK_DAEMON';

export function daemonFiles(database: string): DaemonFiles {
  return { database, pidFile: `${database}.ahenk.pid`, logFile: `${database}.ahenk.log` };
}

export interface DaemonState {
  /** The pid the pid file names (undefined when there is no pid file or it holds no pid). */
  pid: number | undefined;
  /** That process is still running, and (where /proc says) it is an `ahenk start` on this database. */
  running: boolean;
}

export function readDaemon(files: DaemonFiles): DaemonState {
  let text: string;
  try {
    text = readFileSync(files.pidFile, 'utf8').trim();
  } catch {
    return { pid: undefined, running: false };
  }
  const pid = /^\d+$/.test(text) ? Number(text) : undefined;
  return { pid, running: pid !== undefined && isDaemonProcess(pid, files.database) };
}

/**
 * Whether the process `pid` has finished exiting: gone, or a zombie (exited, not yet reaped). A
 * process in the middle of exiting already shows an empty command line (isDaemonProcess says no)
 * while it still holds its files and sockets. Without /proc, the first test is all there is.
 */
export function hasExited(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return true;
  }
  try {
    // The state is the field after the command name in parentheses (which may itself hold spaces).
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return /^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return true;
  }
}

/**
 * A pid can be reused after a daemon died without cleaning up: on Linux, the command line must still
 * be `... start --db <database> ...`, so a stale file never makes stop signal an unrelated process.
 * A zombie (exited, not yet reaped) has an empty command line and counts as gone.
 */
export function isDaemonProcess(pid: number, database: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (!existsSync('/proc/self/cmdline')) return true;
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (!args.includes('start')) return false;
    if (args.includes(database)) return true;
    // It may name the file by another spelling (a symlink, relative to its directory, or by AHENK_DB).
    const cwd = readlinkSync(`/proc/${pid}/cwd`);
    const fromEnv = readFileSync(`/proc/${pid}/environ`, 'utf8')
      .split('\0')
      .find((v) => v.startsWith('AHENK_DB='))
      ?.slice('AHENK_DB='.length);
    const named = [...args.map((a) => (a.startsWith('--db=') ? a.slice('--db='.length) : a)), ...(fromEnv ? [fromEnv] : [])];
    return named.some((a) => a !== '' && realPath(resolve(cwd, a)) === database);
  } catch {
    return false;
  }
}

/**
 * Writes the pid file of a foreground `start` (the daemon's is written by `start --detach`), so
 * stop and status find it. Called with the node lock held: a pid file already there is stale.
 */
export function writePidFile(files: DaemonFiles, pid: number): void {
  writeFileSync(files.pidFile, `${pid}\n`, { mode: 0o644 });
}

/** Removes the pid file if it still names `pid` (a newer daemon's file is left alone). */
export function removePidFile(files: DaemonFiles, pid: number): void {
  try {
    if (readFileSync(files.pidFile, 'utf8').trim() !== String(pid)) return;
  } catch {
    return;
  }
  rmSync(files.pidFile, { force: true });
}

/** Two nodes on one database would be one device identity twice on the network. */
export function refuseIfDaemonRunning(files: DaemonFiles): void {
  const message = daemonRunningMessage(files);
  if (message !== undefined) throw new CommandFailedError(message);
}

/**
 * What to tell someone whose node would be the second on the database, if its pid file names a running
 * one. Never this process: a daemon whose start found the file taken (by another name, between the
 * check of start --detach and its own lock) reads its own pid there.
 */
export function daemonRunningMessage(files: DaemonFiles): string | undefined {
  const { pid, running } = readDaemon(files);
  return running && pid !== process.pid ? `a daemon is already running for ${files.database} (pid ${pid}); stop it with: ahenk stop --db ${files.database}` : undefined;
}

function realPath(path: string): string {
  try {
    return realpathSync.native(path);
  } catch {
    return path;
  }
}
