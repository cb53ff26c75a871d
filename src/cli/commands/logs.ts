/** `ahenk logs`: the tail of a database's daemon log, and (--follow) what it writes next. */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { DB_OPTION, databasePath, flag, stringOption } from '../context.ts';
import { CommandFailedError, EXIT, UsageError } from '../errors.ts';
import type { Writer } from '../io.ts';
import type { CommandContext, CommandSpec } from '../spec.ts';
import { daemonFiles } from './daemon-files.ts';

const DEFAULT_LINES = 50;
/** The daemon writes a line per event, seldom more than a few a second: a quarter second is prompt enough. */
const FOLLOW_POLL_MS = 250;
/** Tail reads go backwards in chunks of this size, so a long log is not read whole for 50 lines. */
const CHUNK = 64 * 1024;

export const logsCommand: CommandSpec = {
  name: 'logs',
  summary: 'print the end of the daemon log of the database (--follow keeps printing)',
  description:
    'Prints the last lines of <db>.ahenk.log, where the daemon started with start --detach writes its ' +
    'events and errors. With --follow it keeps printing new lines until SIGINT/SIGTERM (exit 0).',
  options: [
    DB_OPTION,
    { flags: '-n, --lines <count>', description: `how many lines from the end to print (default ${DEFAULT_LINES})` },
    { flags: '-f, --follow', description: 'keep printing lines as the daemon writes them, until Ctrl-C' },
  ],
  run: async (context) => {
    const { logFile } = daemonFiles(databasePath(context));
    const count = linesOption(context);
    let size: number;
    try {
      size = statSync(logFile).size;
    } catch {
      throw new CommandFailedError(`no daemon log at ${logFile} (ahenk start --detach writes it)`);
    }
    const tail = lastLines(logFile, size, count);
    if (tail !== '') context.io.stdout.write(tail);
    if (flag(context, 'follow')) await follow(logFile, size, context.io.stdout, context.io.signal);
    return EXIT.ok;
  },
};

function linesOption(context: CommandContext): number {
  const text = stringOption(context, 'lines');
  if (text === undefined) return DEFAULT_LINES;
  if (!/^\d+$/.test(text)) throw new UsageError(`--lines must be a whole number, got "${text}"`);
  return Number(text);
}

/** The last `count` complete or unfinished lines of the first `size` bytes, ending in a newline. */
function lastLines(path: string, size: number, count: number): string {
  if (count === 0 || size === 0) return '';
  const fd = openSync(path, 'r');
  try {
    let start = size;
    let text = '';
    // One newline more than lines wanted: the line before the first one printed must end in view.
    while (start > 0 && newlines(text.endsWith('\n') ? text.slice(0, -1) : text) < count) {
      const from = Math.max(0, start - CHUNK);
      const buffer = Buffer.alloc(start - from);
      readSync(fd, buffer, 0, buffer.length, from);
      text = buffer.toString('utf8') + text;
      start = from;
    }
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    return `${lines.slice(-count).join('\n')}\n`;
  } finally {
    closeSync(fd);
  }
}

function newlines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/** Prints what is appended after `offset` until `signal` aborts; a truncated log is followed from its start. */
async function follow(path: string, offset: number, out: Writer, signal: AbortSignal | undefined): Promise<void> {
  let at = offset;
  let partial = Buffer.alloc(0);
  while (!signal?.aborted) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, FOLLOW_POLL_MS);
      signal?.addEventListener('abort', done, { once: true });
      function done(): void {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      }
    });
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      continue; // rotated away: wait for the daemon's next write to create it again
    }
    if (size < at) {
      at = 0;
      partial = Buffer.alloc(0);
    }
    if (size === at) continue;
    // Bytes, not text, until a newline: a chunk may end inside a multi-byte character.
    const bytes = Buffer.concat([partial, readRange(path, at, size)]);
    at = size;
    const end = bytes.lastIndexOf(0x0a);
    if (end >= 0) out.write(bytes.subarray(0, end + 1).toString('utf8'));
    partial = bytes.subarray(end + 1);
  }
}

function readRange(path: string, from: number, to: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buffer = Buffer.alloc(to - from);
    const read = readSync(fd, buffer, 0, buffer.length, from);
    return buffer.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}
