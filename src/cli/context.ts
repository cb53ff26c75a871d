/**
 * Helpers every command uses: which database file, opening it, and reading typed option values
 * out of what commander parsed.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { initializeDatabase, type AhenkDatabase } from '../database/initialize.ts';
import { AhenkError } from '../errors.ts';
import { checkAdapter, isSqliteError, openConnection, type AdapterName } from '../sqlite/index.ts';
import { CommandFailedError, UsageError } from './errors.ts';
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

/** The --db path (or $AHENK_DB), resolved against the working directory. */
export function databasePath(context: CommandContext): string {
  const given = stringOption(context, 'db') ?? context.io.env.AHENK_DB;
  if (given === undefined || given === '') throw new UsageError('no database given: pass --db <path> or set AHENK_DB');
  return resolve(context.io.cwd, given);
}

export interface OpenOptions {
  /** init creates the file; every other command refuses a path with nothing there. */
  create?: boolean;
}

export type CliDatabase = AhenkDatabase & { path: string };

/** Opens the database (applying Ahenk's migrations, as any open does) and closes it after `use`. */
export async function withDatabase<T>(context: CommandContext, use: (db: CliDatabase) => Promise<T>, options: OpenOptions = {}): Promise<T> {
  const db = openDatabase(context, options);
  try {
    return await use(db);
  } finally {
    db.$connection.close();
  }
}

export function openDatabase(context: CommandContext, options: OpenOptions = {}): CliDatabase {
  const path = databasePath(context);
  if (existsSync(path)) {
    if (statSync(path).isDirectory()) throw new UsageError(`${path} is a directory, not a database file`);
  } else if (!options.create) {
    throw new UsageError(`no database at ${path}; create one with: ahenk init --db ${path}`);
  } else if (!existsSync(dirname(path))) {
    throw new UsageError(`cannot create ${path}: the folder ${dirname(path)} does not exist`);
  }
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

/** Whether the file already holds Ahenk's tables (read-only look; a file SQLite cannot read is not one). */
function isAhenkDatabase(path: string, adapter: AdapterName): boolean {
  let probe;
  try {
    probe = openConnection(path, { readOnly: true, adapter });
  } catch (error) {
    // A driver that cannot load (an addon built for another Node) is not "not an Ahenk database".
    if (!isSqliteError(error)) throw error;
    return false;
  }
  try {
    return probe.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ahenk_meta'").get() !== undefined;
  } catch (error) {
    if (!probe.isSqliteError(error)) throw error;
    return false;
  } finally {
    probe.close();
  }
}

/** One SQL identifier, quoted. */
export function quoteName(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
