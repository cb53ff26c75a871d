/**
 * What a command may touch of the outside world, passed in so tests run commands in-process with
 * their own output buffers, environment and stop signal. Only `processIo` reads `process`.
 */

export interface Writer {
  write(text: string): unknown;
  /** True for a terminal: progress is drawn as a bar redrawn in place. */
  isTTY?: boolean;
  /** The terminal's width, when it is one. */
  columns?: number;
}

export interface Reader extends AsyncIterable<string | Uint8Array> {
  isTTY?: boolean;
  setRawMode?: (raw: boolean) => unknown;
  setEncoding?: (encoding: BufferEncoding) => unknown;
  on?: (event: 'data', listener: (chunk: string | Uint8Array) => void) => unknown;
  off?: (event: 'data', listener: (chunk: string | Uint8Array) => void) => unknown;
  pause?: () => unknown;
  resume?: () => unknown;
}

export interface CliIo {
  stdout: Writer;
  stderr: Writer;
  env: Readonly<Record<string, string | undefined>>;
  /** Relative --db paths resolve against this. */
  cwd: string;
  /** Where a password is read from when AHENK_PASSWORD is not set; absent means none can be read. */
  stdin?: Reader;
  /** Aborted on SIGINT/SIGTERM: long-running commands (start, pair, join) stop cleanly. */
  signal?: AbortSignal;
  /** Calls `listener` on each SIGUSR1 (`ahenk relay` logs its counters); returns a function that stops it. */
  onStatusSignal?(listener: () => void): () => void;
}

/** The real process's streams; the first SIGINT or SIGTERM aborts `signal`, a second one kills as usual. */
export function processIo(): CliIo {
  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals): void => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    controller.abort(new Error(`received ${name}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // `ahenk status | head`: the reader left. Nobody is listening any more, so stop as after a signal
  // instead of dying on an unhandled EPIPE.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
      controller.abort(new Error('output closed'));
    });
  }
  const onStatusSignal = (listener: () => void): (() => void) => {
    process.on('SIGUSR1', listener);
    return () => process.off('SIGUSR1', listener);
  };
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd(), stdin: process.stdin, signal: controller.signal, onStatusSignal };
}

export function writeLine(writer: Writer, text = ''): void {
  writer.write(`${text}\n`);
}

export function writeJson(writer: Writer, value: unknown): void {
  writer.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Left-aligned columns, two spaces apart; the last column is not padded. */
export function writeTable(writer: Writer, headers: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  writeLine(writer, line(headers));
  for (const row of rows) writeLine(writer, line(row));
}

/**
 * A Unix-ms time as ISO text, or '-' when there is none. Synced columns hold what any of the user's
 * devices wrote, so a value that is no time is shown as it is rather than failing the listing.
 */
export function formatTime(ms: unknown): string {
  if (ms === null || ms === undefined) return '-';
  const date = typeof ms === 'number' ? new Date(ms) : undefined;
  return date !== undefined && Number.isFinite(date.getTime()) ? date.toISOString() : `(not a time: ${String(ms).slice(0, 40)})`;
}
