/**
 * `ahenk logs`: the end of a database's daemon log, pretty-printed (or as its JSON lines), and
 * (--follow) what the daemon writes next, across the daemon's own rotations.
 */
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { DB_OPTION, databasePath, flag, stringOption } from '../context.ts';
import { LOG_LEVELS, parseLogLevel, rotatedLogFile, type LogLevel } from '../daemon-log.ts';
import { CommandFailedError, EXIT, UsageError } from '../errors.ts';
import { writeLine, type Writer } from '../io.ts';
import { atLeast, parseLogLine, prettyLogLine } from '../log-format.ts';
import type { CommandContext, CommandSpec } from '../spec.ts';
import { daemonFiles } from './daemon-files.ts';

const DEFAULT_LINES = 50;
/** The daemon writes a line per event, seldom more than a few a second: a quarter second is prompt enough. */
const FOLLOW_POLL_MS = 250;
/** Tail reads go backwards in chunks of this size, so a long log is not read whole for 50 lines. */
const CHUNK = 64 * 1024;
/** The tail looks into this many rotated files at most for lines the current one lacks. */
const ROTATED_FILES_READ = 100;

export const logsCommand: CommandSpec = {
  name: 'logs',
  summary: 'print the end of the daemon log of the database (--follow keeps printing)',
  description:
    'Prints the last lines of <db>.ahenk.log, where the daemon started with start --detach writes its ' +
    'events and errors as JSON lines (pino), one line per event as `<time> <LEVEL> <message>`; older lines ' +
    'come from the rotated <db>.ahenk.log.1, .2, … With --follow it keeps printing new lines, across ' +
    'rotations, until SIGINT/SIGTERM (exit 0).',
  options: [
    DB_OPTION,
    { flags: '-n, --lines <count>', description: `how many lines from the end to print (default ${DEFAULT_LINES})` },
    { flags: '-f, --follow', description: 'keep printing lines as the daemon writes them, until Ctrl-C' },
    { flags: '--level <level>', description: `only lines at or above this level: ${LOG_LEVELS.join(', ')} (default: all)` },
    { flags: '--json', description: 'print the log\'s JSON lines as they are' },
  ],
  run: async (context) => {
    const { logFile } = daemonFiles(databasePath(context));
    const count = linesOption(context);
    const levelText = stringOption(context, 'level');
    const level = levelText === undefined ? undefined : parseLogLevel(levelText, '--level');
    const show = printer(context.io.stdout, flag(context, 'json'), level, colorWanted(context));
    let fd: number;
    try {
      fd = openSync(logFile, 'r');
    } catch {
      throw new CommandFailedError(`no daemon log at ${logFile} (ahenk start --detach writes it)`);
    }
    try {
      const size = fstatSync(fd).size;
      for (const line of lastLines(logFile, fd, size, count, show.keeps)) show.line(line);
      if (flag(context, 'follow')) await follow(logFile, fd, size, show, context.io.signal);
    } finally {
      closeSync(fd);
    }
    return EXIT.ok;
  },
};

function linesOption(context: CommandContext): number {
  const text = stringOption(context, 'lines');
  if (text === undefined) return DEFAULT_LINES;
  if (!/^\d+$/.test(text)) throw new UsageError(`--lines must be a whole number, got "${text}"`);
  return Number(text);
}

/** Colour only for a person at a terminal who has not asked for none (https://no-color.org). */
function colorWanted(context: CommandContext): boolean {
  const noColor = context.io.env.NO_COLOR;
  return context.io.stdout.isTTY === true && (noColor === undefined || noColor === '');
}

interface Printer {
  /** The line passes the --level filter. */
  keeps(raw: string): boolean;
  line(raw: string): void;
}

function printer(out: Writer, json: boolean, level: LogLevel | undefined, color: boolean): Printer {
  const keeps = (raw: string): boolean => level === undefined || atLeast(parseLogLine(raw), level);
  return {
    keeps,
    line: (raw) => {
      if (!keeps(raw)) return;
      writeLine(out, json ? raw : prettyLogLine(parseLogLine(raw), color));
    },
  };
}

/**
 * The last `count` lines that `keeps`, oldest first: from the end of the open log (its first
 * `size` bytes), then from the rotated files, newest first, while lines are still wanted.
 */
function lastLines(path: string, fd: number, size: number, count: number, keeps: (raw: string) => boolean): string[] {
  if (count === 0) return [];
  const found: string[] = [];
  const wanted = (): number => count - found.length;
  // Each file's lines come newest first; `found` is reversed at the end.
  found.push(...linesBackwards(fd, size, wanted(), keeps));
  for (let index = 1; index <= ROTATED_FILES_READ && wanted() > 0; index++) {
    let older: number;
    try {
      older = openSync(rotatedLogFile(path, index), 'r');
    } catch {
      break;
    }
    try {
      found.push(...linesBackwards(older, fstatSync(older).size, wanted(), keeps));
    } finally {
      closeSync(older);
    }
  }
  return found.reverse();
}

/** Up to `count` lines of the file's first `size` bytes that `keeps`, newest first; read backwards in chunks. */
function linesBackwards(fd: number, size: number, count: number, keeps: (raw: string) => boolean): string[] {
  const lines: string[] = [];
  let start = size;
  // Bytes not yet split: the start of the earliest line read so far may still be further back.
  let rest = Buffer.alloc(0);
  while (lines.length < count && start > 0) {
    const from = Math.max(0, start - CHUNK);
    const chunk = Buffer.alloc(start - from);
    readSync(fd, chunk, 0, chunk.length, from);
    start = from;
    rest = Buffer.concat([chunk, rest]);
    // Lines are cut at newlines, bytes and not text: a chunk may begin inside a multi-byte character.
    let end = rest.length;
    if (rest[end - 1] === 0x0a && start + end === size) end--; // the file's last newline ends a line, it starts none
    while (end > 0 && lines.length < count) {
      const at = rest.lastIndexOf(0x0a, end - 1);
      if (at < 0) break;
      const line = rest.subarray(at + 1, end).toString('utf8');
      if (keeps(line)) lines.push(line);
      end = at;
    }
    rest = rest.subarray(0, end);
    if (start === 0 && lines.length < count && rest.length > 0) {
      const line = rest.toString('utf8');
      if (keeps(line)) lines.push(line);
    }
  }
  return lines;
}

/**
 * Prints what is appended after `offset` until `signal` aborts. When the daemon rotates the log,
 * the rest of the old file (still open here) is printed, then the new file from its start; a
 * truncated log (logrotate's copytruncate) is followed from its start.
 */
async function follow(path: string, fd: number, offset: number, show: Printer, signal: AbortSignal | undefined): Promise<void> {
  let current = fd;
  let at = offset;
  let partial = Buffer.alloc(0);
  const drain = (): void => {
    const size = fstatSync(current).size;
    if (size < at) {
      at = 0;
      partial = Buffer.alloc(0);
    }
    if (size === at) return;
    // Bytes, not text, until a newline: a chunk may end inside a multi-byte character.
    const bytes = Buffer.concat([partial, readRange(current, at, size)]);
    at = size;
    let start = 0;
    for (let end = bytes.indexOf(0x0a); end >= 0; end = bytes.indexOf(0x0a, start)) {
      show.line(bytes.subarray(start, end).toString('utf8'));
      start = end + 1;
    }
    partial = bytes.subarray(start);
  };
  try {
    while (!signal?.aborted) {
      await pause(signal);
      drain();
      let moved: boolean;
      try {
        moved = statSync(path).ino !== fstatSync(current).ino;
      } catch {
        continue; // between the rename and the new file: wait for the daemon's next write to create it
      }
      if (!moved) continue;
      // Rotated: the daemon writes nothing more to the old file, but may have written to it since
      // the drain above; read it to its end, then the new file from its start.
      drain();
      const next = openSync(path, 'r');
      if (current !== fd) closeSync(current);
      current = next;
      at = 0;
      partial = Buffer.alloc(0);
      drain();
    }
  } finally {
    if (current !== fd) closeSync(current);
  }
}

function pause(signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(done, FOLLOW_POLL_MS);
    signal?.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}

function readRange(fd: number, from: number, to: number): Buffer {
  const buffer = Buffer.alloc(to - from);
  const read = readSync(fd, buffer, 0, buffer.length, from);
  return buffer.subarray(0, read);
}
