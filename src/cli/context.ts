/**
 * Helpers every command uses: which database file, opening it, and reading typed option values
 * out of what commander parsed.
 */
import { accessSync, constants, existsSync, realpathSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { initializeDatabase, type AhenkDatabase } from '../database/initialize.ts';
import { AhenkError } from '../errors.ts';
import { checkAdapter, isNotADatabaseError, isSqliteError, openConnection, type AdapterName } from '../sqlite/index.ts';
import { daemonFiles, daemonRunningMessage } from './commands/daemon-files.ts';
import { CommandFailedError, UsageError } from './errors.ts';
import { lockNode, type NodeLock } from './node-lock.ts';
import type { CommandContext, OptionSpec } from './spec.ts';

export const DB_OPTION: OptionSpec = { flags: '--db <path>', description: 'the device database (default: $AHENK_DB)' };
export const JSON_OPTION: OptionSpec = { flags: '--json', description: 'print JSON instead of text' };

export function stringOption(context: CommandContext, name: string): string | undefined {
  const value = context.options[name];
  return typeof value === 'string' ? value : undefined;
}

export function stringsOption(context: CommandContext, name: string): string[] {
  const value = context.options[name];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

export function flag(context: CommandContext, name: string): boolean {
  return context.options[name] === true;
}

/** Timers take at most 2^31 - 1 ms; a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A positive number of seconds from a flag, in whole milliseconds (at least 1, at most `maxMs`). */
export function secondsOption(context: CommandContext, name: string, flagName: string, fallbackMs: number, maxMs: number = MAX_TIMER_MS): number {
  const text = stringOption(context, name);
  if (text === undefined) return fallbackMs;
  const seconds = Number(text);
  const ms = Math.round(seconds * 1000);
  if (!Number.isFinite(seconds) || ms < 1) throw new UsageError(`${flagName} must be a positive number of seconds (at least 0.001), got "${text}"`);
  if (ms > maxMs) throw new UsageError(`${flagName} must be at most ${maxMs / 1000} seconds, got "${text}"`);
  return ms;
}

/**
 * The --db path (or $AHENK_DB), resolved against the working directory; for a file that exists, its
 * real path (symlinks resolved), so every spelling of one file finds the same daemon files.
 */
export function databasePath(context: CommandContext): string {
  const given = stringOption(context, 'db') ?? context.io.env.AHENK_DB;
  if (given === undefined || given === '') throw new UsageError('no database given: pass --db <path> or set AHENK_DB');
  const path = resolve(context.io.cwd, given);
  try {
    return realpathSync.native(path);
  } catch {
    return path;
  }
}

/**
 * The database path after the checks every command makes before touching anything: the file is
 * there (or, with `create`, its folder is), it is not a folder, and this user may write it and its
 * folder (SQLite writes its -wal and -shm files next to the database, even to read it).
 */
export function checkedDatabasePath(context: CommandContext, options: OpenOptions = {}): string {
  const path = databasePath(context);
  if (existsSync(path)) {
    if (statSync(path).isDirectory()) throw new UsageError(`${path} is a directory, not a database file`);
  } else if (!options.create) {
    throw new UsageError(`no database at ${path}; create one with: ahenk init --db ${path}`);
  } else if (!existsSync(dirname(path))) {
    throw new UsageError(`cannot create ${path}: the folder ${dirname(path)} does not exist`);
  }
  const folder = dirname(path);
  const denied = (target: string, mode: number): string | undefined => {
    try {
      accessSync(target, mode);
      return undefined;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code ?? 'EACCES';
    }
  };
  const folderDenied = denied(folder, constants.W_OK | constants.X_OK);
  if (folderDenied !== undefined) {
    const readOnlyFs = folderDenied === 'EROFS';
    const why = readOnlyFs ? 'is on a read-only file system' : 'is not writable by this user';
    const todo = readOnlyFs
      ? 'Remount it read-write, or copy the database to a writable folder'
      : `Make the folder writable (chmod u+w ${folder}, or ask its owner), or move the database to a folder you can write`;
    throw new CommandFailedError(`cannot use ${path}: its folder ${folder} ${why} (${folderDenied}); SQLite writes its -wal and -shm files next to the database, even to read it. ${todo}`);
  }
  const fileDenied = existsSync(path) ? denied(path, constants.R_OK | constants.W_OK) : undefined;
  if (fileDenied !== undefined) {
    throw new CommandFailedError(`cannot use ${path}: the file is not readable and writable by this user (${fileDenied}); make it so (chmod u+rw ${path}, or ask its owner)`);
  }
  return path;
}

export interface OpenOptions {
  /** init creates the file; every other command refuses a path with nothing there. */
  create?: boolean;
  /** The command runs a sync node (start, pair, join): it holds the database's node lock while `use` runs. */
  node?: boolean;
}

export type CliDatabase = AhenkDatabase & { path: string };

/** Opens the database (applying Ahenk's migrations, as any open does) and closes it after `use`. */
export async function withDatabase<T>(context: CommandContext, use: (db: CliDatabase) => Promise<T>, options: OpenOptions = {}): Promise<T> {
  const lock = options.node ? lockDatabaseNode(context) : undefined;
  try {
    const db = openDatabase(context, options);
    try {
      return await use(db);
    } finally {
      db.$connection.close();
    }
  } finally {
    lock?.release();
  }
}

/**
 * Takes the node lock of the command's database (after the checks of checkedDatabasePath): a second
 * node on one file, by whatever path, is refused, naming the running one when its pid file does.
 */
export function lockDatabaseNode(context: CommandContext): NodeLock {
  const database = checkedDatabasePath(context);
  return lockNode(database, adapterOf(context), () => daemonRunningMessage(daemonFiles(database)));
}

export function openDatabase(context: CommandContext, options: OpenOptions = {}): CliDatabase {
  const path = checkedDatabasePath(context, options);
  // Opening converts a file into an Ahenk database; only init may do that to a file it was given.
  const adapter = adapterOf(context);
  if (!options.create && existsSync(path) && !isAhenkDatabase(path, adapter)) {
    throw new UsageError(`${path} is not an Ahenk database (no ahenk_meta table); to make it one, run: ahenk init --db ${path}`);
  }
  try {
    return Object.assign(initializeDatabase(path, { adapter }), { path });
  } catch (error) {
    if (error instanceof AhenkError) throw new CommandFailedError(`cannot open ${path}: ${error.message}`, undefined, { cause: error });
    throw error;
  }
}

/** The SQLite adapter the command's own environment names (AHENK_SQLITE), else better-sqlite3. */
export function adapterOf(context: CommandContext): AdapterName {
  const named = context.io.env.AHENK_SQLITE;
  if (named === undefined || named === '') return 'better-sqlite3';
  try {
    return checkAdapter(named, 'AHENK_SQLITE');
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/**
 * Whether the file already holds Ahenk's tables (read-only look). Only a file SQLite reads as no
 * database at all is "not one"; any other failure (a lock, a permission) is reported as itself.
 */
function isAhenkDatabase(path: string, adapter: AdapterName): boolean {
  const cannotRead = (error: unknown): Error => {
    // A driver that cannot load (an addon built for another Node) is not "not an Ahenk database" either.
    if (!isSqliteError(error) || isNotADatabaseError(error)) return error as Error;
    return new CommandFailedError(`cannot read ${path}: ${(error as Error).message}`, undefined, { cause: error });
  };
  let probe;
  try {
    probe = openConnection(path, { readOnly: true, adapter });
  } catch (error) {
    if (isNotADatabaseError(error)) return false;
    throw cannotRead(error);
  }
  try {
    return probe.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ahenk_meta'").get() !== undefined;
  } catch (error) {
    if (isNotADatabaseError(error)) return false;
    throw cannotRead(error);
  } finally {
    probe.close();
  }
}

/** One SQL identifier, quoted. */
export function quoteName(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
