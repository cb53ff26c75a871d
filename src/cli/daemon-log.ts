/**
 * The daemon's log: one pino JSON object per line in `<db>.ahenk.log`, a file the daemon owns and
 * rotates itself. Once the next line would take it past its size limit, the file becomes `.1`
 * (an older `.1` becomes `.2`, and so on; the oldest beyond the kept count is removed) and a new one
 * is started. A line is never split between two files.
 */
import { closeSync, fchmodSync, fstatSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { pino, type Logger } from 'pino';
import { UsageError } from './errors.ts';

/** pino's levels, least to most severe; the log keeps a line at or above its level. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const DEFAULT_LOG_MAX_BYTES = 10 * 1024 * 1024;
export const DEFAULT_LOG_FILES = 5;
/** Below this a log would rotate at nearly every line; a line of the daemon is at most a few KiB. */
export const MIN_LOG_MAX_BYTES = 4096;
const MAX_LOG_FILES = 100;

export interface LogFileOptions {
  /** Rotate before the file passes this many bytes. */
  maxBytes: number;
  /** How many rotated files (`.1` … `.<files>`) are kept. */
  files: number;
}

/** The rotated files of `path`, newest first: `<path>.1`, `<path>.2`, … */
export function rotatedLogFile(path: string, index: number): string {
  return `${path}.${index}`;
}

/**
 * An append-only file that rotates by size. Writes are synchronous (the daemon writes a few lines a
 * second at most), so a line logged just before the process exits is in the file. A write that
 * fails (a full disk) does not stop the node: the lines lost are counted and said in the file once
 * writing works again.
 */
export class RotatingLogFile {
  readonly path: string;
  readonly #options: LogFileOptions;
  #fd: number;
  #lost = 0;
  #lostReason = '';

  constructor(path: string, options: LogFileOptions) {
    this.path = path;
    this.#options = options;
    this.#fd = openOwnerOnly(path);
  }

  write(line: string): void {
    try {
      if (this.#lost > 0) {
        const note = { level: 'warn', time: new Date().toISOString(), event: 'log:lost', lost: this.#lost, msg: `${this.#lost} log lines were lost: ${this.#lostReason}` };
        this.#append(`${JSON.stringify(note)}\n`);
        this.#lost = 0;
      }
      this.#append(line);
    } catch (error) {
      this.#lost++;
      this.#lostReason = (error as Error).message;
    }
  }

  close(): void {
    closeSync(this.#fd);
  }

  #append(line: string): void {
    const bytes = Buffer.byteLength(line);
    this.#reopenIfMoved();
    // Measured, not counted: the process's stderr (a crash report) shares the file.
    const size = fstatSync(this.#fd).size;
    if (size > 0 && size + bytes > this.#options.maxBytes) this.#rotate();
    writeSync(this.#fd, line);
  }

  /** Someone moved or removed the file (logrotate without copytruncate, a user): write to a new one at the path. */
  #reopenIfMoved(): void {
    let moved: boolean;
    try {
      moved = statSync(this.path).ino !== fstatSync(this.#fd).ino;
    } catch {
      moved = true;
    }
    if (!moved) return;
    const fd = openOwnerOnly(this.path);
    closeSync(this.#fd);
    this.#fd = fd;
  }

  #rotate(): void {
    const { files } = this.#options;
    rmSync(rotatedLogFile(this.path, files), { force: true });
    for (let index = files - 1; index >= 1; index--) {
      try {
        renameSync(rotatedLogFile(this.path, index), rotatedLogFile(this.path, index + 1));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
    renameSync(this.path, rotatedLogFile(this.path, 1));
    const fd = openOwnerOnly(this.path);
    closeSync(this.#fd);
    this.#fd = fd;
  }
}

/** The log names peers and addresses: only its owner reads it, also when an older file was looser (a mode applies only at creation). */
function openOwnerOnly(path: string): number {
  const fd = openSync(path, 'a', 0o600);
  const stat = fstatSync(fd);
  if (stat.isFile() && (stat.mode & 0o077) !== 0) fchmodSync(fd, 0o600);
  return fd;
}

/** A pino logger writing to `file`: ISO times, level names rather than numbers, the daemon's pid. */
export function createDaemonLogger(file: RotatingLogFile, level: LogLevel): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    file,
  );
}

export function parseLogLevel(text: string, flagName: string): LogLevel {
  const level = LOG_LEVELS.find((l) => l === text);
  if (level === undefined) throw new UsageError(`${flagName} must be one of ${LOG_LEVELS.join(', ')}, got "${text}"`);
  return level;
}

const SIZE_UNITS: ReadonlyMap<string, number> = new Map([
  ['', 1],
  ['k', 1024],
  ['m', 1024 ** 2],
  ['g', 1024 ** 3],
]);

/** `10M`, `512k`, `65536`: bytes, with a binary unit (k, M, G; an optional trailing B or iB). */
export function parseLogSize(text: string, flagName: string): number {
  const match = /^(\d+)\s*([kmg]?)(?:i?b)?$/i.exec(text.trim());
  const unit = match === null ? undefined : SIZE_UNITS.get(match[2]!.toLowerCase());
  const bytes = match === null || unit === undefined ? NaN : Number(match[1]) * unit;
  if (!Number.isSafeInteger(bytes) || bytes < MIN_LOG_MAX_BYTES) {
    throw new UsageError(`${flagName} must be a size of at least ${MIN_LOG_MAX_BYTES} bytes (e.g. 10M, 512k), got "${text}"`);
  }
  return bytes;
}

export function parseLogFiles(text: string, flagName: string): number {
  const files = Number(text);
  if (!/^\d+$/.test(text) || files < 1 || files > MAX_LOG_FILES) throw new UsageError(`${flagName} must be a whole number from 1 to ${MAX_LOG_FILES}, got "${text}"`);
  return files;
}
