/**
 * How a person reads the daemon's log: a pino JSON line becomes `<time> <LEVEL> <message>`
 * (coloured by level at a terminal); a line that is not one of the daemon's JSON objects (a crash
 * report on stderr, a log written before Ahenk used pino) is shown as it is.
 */
import { LOG_LEVELS, type LogLevel } from './daemon-log.ts';

/** pino's numeric levels, for logs written with numbers rather than names. */
const LEVEL_OF_NUMBER: ReadonlyMap<number, LogLevel> = new Map([
  [10, 'trace'],
  [20, 'debug'],
  [30, 'info'],
  [40, 'warn'],
  [50, 'error'],
  [60, 'fatal'],
]);

const COLOR_OF_LEVEL: ReadonlyMap<LogLevel, string> = new Map([
  ['trace', '\u001b[2m'],
  ['debug', '\u001b[2m'],
  ['warn', '\u001b[33m'],
  ['error', '\u001b[31m'],
  ['fatal', '\u001b[1;31m'],
]);
const RESET = '\u001b[0m';
/** Fields every line has, or that the message already says: not repeated after it. */
const SHOWN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'event']);

export interface LogLine {
  /** Undefined for a line that is not one of the daemon's JSON objects. */
  level: LogLevel | undefined;
  raw: string;
  object: Record<string, unknown> | undefined;
}

export function parseLogLine(raw: string): LogLine {
  if (!raw.startsWith('{')) return { level: undefined, raw, object: undefined };
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { level: undefined, raw, object: undefined };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { level: undefined, raw, object: undefined };
  const object = value as Record<string, unknown>;
  return { level: levelOf(object.level), raw, object };
}

function levelOf(value: unknown): LogLevel | undefined {
  if (typeof value === 'number') return LEVEL_OF_NUMBER.get(value);
  return LOG_LEVELS.find((l) => l === value);
}

/** At or above `threshold`; a line without a level (a crash report) always is. */
export function atLeast(line: LogLine, threshold: LogLevel): boolean {
  return line.level === undefined || LOG_LEVELS.indexOf(line.level) >= LOG_LEVELS.indexOf(threshold);
}

/** `2026-12-05T06:10:00.000Z WARN  cannot reach 12D3KooW…: tried …`, without a trailing newline. */
export function prettyLogLine(line: LogLine, color: boolean): string {
  const { object, level } = line;
  if (object === undefined) return line.raw;
  const time = typeof object.time === 'string' ? object.time : typeof object.time === 'number' ? new Date(object.time).toISOString() : '';
  const label = (level ?? '?').toUpperCase().padEnd(5);
  const message = typeof object.msg === 'string' && object.msg !== '' ? object.msg : restOf(object);
  const shownLabel = color && level !== undefined && COLOR_OF_LEVEL.has(level) ? `${COLOR_OF_LEVEL.get(level)}${label}${RESET}` : label;
  return `${time} ${shownLabel} ${message}`;
}

/** A line without a message: its event and fields, so nothing in it is hidden. */
function restOf(object: Record<string, unknown>): string {
  const fields = Object.entries(object).filter(([key]) => !SHOWN.has(key));
  const event = typeof object.event === 'string' ? object.event : '';
  return [event, ...fields.map(([key, value]) => `${key}=${JSON.stringify(value)}`)].filter((part) => part !== '').join(' ');
}
