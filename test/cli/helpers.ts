/**
 * Running the CLI in tests: in-process through run() with captured output, or as a real
 * `node bin/ahenk.js` process whose output lines can be awaited. Every spawned process is killed
 * after the test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';
import { run, type CliIo, type Reader } from '../../src/cli/main.ts';
import { initializeDatabase } from '../../src/index.ts';
import { openConnection } from '../../src/sqlite/index.ts';
import { CREATE_TABLES, schema, todos } from '../helpers/schema.ts';

export const BIN = fileURLToPath(new URL('../../bin/ahenk.js', import.meta.url));
export const PASSWORD = 'a long pass phrase';
export const LOOPBACK = ['--listen', '/ip4/127.0.0.1/tcp/0'];

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ahenk-cli-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The environment a command sees in-process: the given variables, plus the suite's adapter and
 * Node runtime (runtimeOf), as a shell that exported them would pass them on (a detached daemon is
 * started with this environment, not with the test process's).
 */
function commandEnv(env: Record<string, string> | undefined): Record<string, string> {
  return { ...runtimeOf(process.env), ...env };
}

/** Runs one command in-process. */
export async function cli(argv: string[], options: { env?: Record<string, string>; stdin?: string | Reader; signal?: AbortSignal; cwd?: string; onStdout?: (text: string) => void; onStderr?: (text: string) => void } = {}): Promise<RunResult> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: {
      write: (text: string) => {
        stdout += text;
        options.onStdout?.(text);
      },
    },
    stderr: {
      write: (text: string) => {
        stderr += text;
        options.onStderr?.(text);
      },
    },
    env: commandEnv(options.env),
    cwd: options.cwd ?? process.cwd(),
    ...(options.stdin === undefined ? {} : { stdin: typeof options.stdin === 'string' ? Readable.from([options.stdin]) : options.stdin }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  };
  const code = await run(argv, io);
  return { code, stdout, stderr };
}

/**
 * A database with the app's synced tables (as test/helpers/db.ts makes them) holding one todo,
 * closed again: the CLI opens it without ever seeing the TypeScript schema.
 */
export function appDatabase(dir: string, name: string, todo?: { id: string; title: string }): string {
  const path = join(dir, `${name}.db`);
  const pre = openConnection(path);
  pre.exec(CREATE_TABLES);
  pre.close();
  const db = initializeDatabase(path, { schema });
  if (todo) db.insert(todos).values(todo).run();
  db.$connection.close();
  return path;
}

/** The todos of a database file, read with a plain connection. */
export function todoTitles(path: string): Record<string, string> {
  const raw = openConnection(path, { readOnly: true });
  try {
    const rows = raw.prepare('SELECT id, title FROM todos ORDER BY id').all() as { id: string; title: string }[];
    return Object.fromEntries(rows.map((r) => [r.id, r.title]));
  } finally {
    raw.close();
  }
}

/** A stand-in for a terminal on stdin: what the test writes to it is what the person typed. */
export function fakeTerminal(): PassThrough & Reader {
  return Object.assign(new PassThrough(), { isTTY: true, setRawMode: () => undefined });
}

export interface CliProcess {
  child: ChildProcess;
  /** Everything printed so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the first stdout line matching `pattern` (already printed or still to come). */
  line(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code (a signal counts as -1). */
  exited: Promise<number>;
}

/** Starts `node bin/ahenk.js ...args` as a real process, killed after the test if still running. */
export function spawnCli(args: string[], env: Record<string, string> = {}, cwd?: string): CliProcess {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], ...(cwd ? { cwd } : {}) });
  let out = '';
  let err = '';
  const waiters: (() => void)[] = [];
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    for (const wake of waiters.splice(0)) wake();
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  let closed = false;
  // 'close' (not 'exit'): by then the last output has been read.
  const exited = new Promise<number>((resolve) =>
    child.once('close', (code) => {
      closed = true;
      resolve(code ?? -1);
    }),
  );
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  const line = (pattern: RegExp, timeoutMs = 10_000): Promise<string> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms; stdout:\n${out}\nstderr:\n${err}`)), timeoutMs);
      const check = (): void => {
        const found = out.split('\n').find((l) => pattern.test(l));
        if (found !== undefined) {
          clearTimeout(timer);
          resolve(found);
        } else if (closed) {
          clearTimeout(timer);
          reject(new Error(`exited (${child.exitCode ?? child.signalCode}) before printing ${pattern}; stdout:\n${out}\nstderr:\n${err}`));
        } else {
          waiters.push(check);
        }
      };
      void exited.then(() => waiters.splice(0).forEach((wake) => wake()));
      check();
    });
  return { child, stdout: () => out, stderr: () => err, line, exited };
}

/**
 * `ahenk pair` on `laptop` with a person at a (fake) terminal, and `ahenk join` on `phone` with the
 * code pair printed; when pair asks whether to accept the device, the person types `keys`.
 */
export async function pairAtTerminal(laptop: string, phone: string, keys: string): Promise<{ pair: RunResult; join: RunResult }> {
  const terminal = fakeTerminal();
  let code = '';
  let joining: Promise<RunResult> | undefined;
  const pair = await cli(['pair', '--db', laptop, ...LOOPBACK], {
    stdin: terminal,
    onStdout: (text) => {
      code = /^ahenk-pair:1:\S+$/m.exec(text)?.[0] ?? code;
      if (code && joining === undefined) joining = cli(['join', code, '--db', phone, '--device-type', 'phone', ...LOOPBACK]);
    },
    onStderr: (text) => {
      if (text.includes('Accept? [y/N]')) terminal.write(keys);
    },
  });
  if (joining === undefined) throw new Error(`pair printed no code: ${pair.stderr}`);
  return { pair, join: await joining };
}

/**
 * What selects the SQLite adapter and the Node runtime the suite runs on (scripts/test-on.mjs): a
 * user's shell has these too, so a command and the daemon it starts run as the suite does.
 */
export function runtimeOf(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of ['AHENK_SQLITE', 'AHENK_BETTER_SQLITE3_ENTRY']) {
    const value = env[name];
    if (value !== undefined) out[name] = value;
  }
  const hook = env.NODE_OPTIONS?.split(/\s+/).filter((option) => option.endsWith('scripts/node-runtime-register.mjs')) ?? [];
  if (hook.length > 0) out.NODE_OPTIONS = hook.join(' ');
  return out;
}
