/**
 * The control socket of a running node (`ahenk start`, foreground or daemon): a Unix domain socket
 * next to the database, `<db>.ahenk.sock`, through which `ahenk status` asks what only the running
 * node knows (which peers are connected, and how); and that of a running relay, `<state>.sock`,
 * through which `ahenk relay admit|revoke|token` change it without a restart. A tiny protocol of
 * one JSON line each way: `{"v":1,"op":"status"}\n` in (an op may carry a few more fields),
 * `{"ok":true,"status":{...}}\n` or `{"ok":false,"error":"..."}\n` out.
 *
 * Only the owner may connect: the socket is made with mode 0600 (under a umask that allows no
 * more, so it is never wider even for an instant), checked after it is made, never made or used
 * through a symlink, and removed when the node stops. Requests and answers are bounded.
 */
import { lstatSync, rmSync, type Stats } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { CommandFailedError } from './errors.ts';

export const CONTROL_PROTOCOL_VERSION = 1;
/** A request is one short JSON object; anything longer is refused unread. */
export const MAX_REQUEST_BYTES = 4096;
/** A status lists a few dozen peers; a megabyte is far beyond any real answer. */
export const MAX_RESPONSE_BYTES = 1 << 20;
/** A client that connects and says nothing is dropped after this long. */
const REQUEST_TIMEOUT_MS = 5_000;
/** A node answers from memory in well under a millisecond; two seconds covers a busy machine. */
export const RESPONSE_TIMEOUT_MS = 2_000;
/** Connections served at once: status is asked by a person, not a crowd. */
const MAX_CONNECTIONS = 16;

export function controlSocketPath(database: string): string {
  return `${database}.ahenk.sock`;
}

/** One operation of a control socket: takes the request's fields, returns the answer (or throws to refuse). */
export type ControlOp = (request: Readonly<Record<string, unknown>>) => unknown;

export interface ControlServer {
  path: string;
  close(): Promise<void>;
}

/**
 * Serves `ops` (by name; `status` at least, which is how a second server learns this one is live)
 * on the control socket at `path`; fails if the path is a symlink, another file, or a live socket.
 */
export async function serveControlSocket(path: string, ops: ReadonlyMap<string, ControlOp>): Promise<ControlServer> {
  await clearStaleSocket(path);
  const server = createServer((socket) => serve(socket, ops));
  server.maxConnections = MAX_CONNECTIONS;
  // bind() makes the socket file with the process umask: 0177 leaves it 0600 from the start.
  const umask = process.umask(0o177);
  let listening: Promise<void>;
  try {
    listening = new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(umask);
  }
  await listening;
  const made = lstatSync(path);
  if (!made.isSocket() || (made.mode & 0o777) !== 0o600 || (process.getuid !== undefined && made.uid !== process.getuid())) {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    throw new CommandFailedError(`the control socket ${path} was not made as an owner-only socket; not serving it`);
  }
  return { path, close: () => closeServer(server, path, made) };
}

/**
 * Asks the node serving `path` (for its status, or what `request` says). Undefined when no node
 * serves it (no socket, or a stale one); throws CommandFailedError for a path that is not a
 * socket of this user, or when the node refuses.
 */
export async function queryControlSocket(path: string, timeoutMs = RESPONSE_TIMEOUT_MS, request: Readonly<Record<string, unknown>> = { op: 'status' }): Promise<unknown> {
  const stats = lstatOrUndefined(path);
  if (stats === undefined) return undefined;
  refuseUntrusted(path, stats);
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let text = '';
    let settled = false;
    const finish = (value: unknown, error?: Error): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      if (error !== undefined) reject(error);
      else resolve(value);
    };
    socket.setTimeout(timeoutMs, () => finish(undefined, new CommandFailedError(`the node at ${path} did not answer within ${timeoutMs / 1000} s`)));
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify({ ...request, v: CONTROL_PROTOCOL_VERSION })}\n`));
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text.length > MAX_RESPONSE_BYTES) return finish(undefined, new CommandFailedError(`the node at ${path} sent an answer over ${MAX_RESPONSE_BYTES} bytes`));
      const end = text.indexOf('\n');
      if (end >= 0) finish(parseAnswer(text.slice(0, end), path));
    });
    socket.on('end', () => finish(undefined, new CommandFailedError(`the node at ${path} closed the control socket without an answer`)));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // Nobody listening: a node that died without removing its socket.
      if (error.code === 'ECONNREFUSED' || error.code === 'ENOENT') finish(undefined);
      else finish(undefined, new CommandFailedError(`cannot reach the node at ${path}: ${error.message}`));
    });
  });
}

function parseAnswer(line: string, path: string): unknown {
  let answer: unknown;
  try {
    answer = JSON.parse(line);
  } catch {
    throw new CommandFailedError(`the node at ${path} answered something that is not JSON`);
  }
  if (typeof answer !== 'object' || answer === null) throw new CommandFailedError(`the node at ${path} answered something that is not an object`);
  const { ok, status, error } = answer as { ok?: unknown; status?: unknown; error?: unknown };
  if (ok !== true) throw new CommandFailedError(`the node at ${path} refused: ${typeof error === 'string' ? error.slice(0, 200) : 'no reason given'}`);
  return status;
}

function serve(socket: Socket, ops: ReadonlyMap<string, ControlOp>): void {
  let received = '';
  const reply = (value: object): void => {
    socket.end(`${JSON.stringify(value)}\n`);
  };
  socket.setEncoding('utf8');
  socket.setTimeout(REQUEST_TIMEOUT_MS, () => socket.destroy());
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: string) => {
    received += chunk;
    const end = received.indexOf('\n');
    if (end < 0) {
      if (received.length > MAX_REQUEST_BYTES) {
        socket.removeAllListeners('data');
        reply({ ok: false, error: `request over ${MAX_REQUEST_BYTES} bytes` });
      }
      return;
    }
    socket.removeAllListeners('data');
    if (end > MAX_REQUEST_BYTES) return reply({ ok: false, error: `request over ${MAX_REQUEST_BYTES} bytes` });
    let request: unknown;
    try {
      request = JSON.parse(received.slice(0, end));
    } catch {
      return reply({ ok: false, error: 'request is not JSON' });
    }
    const fields = (typeof request === 'object' && request !== null && !Array.isArray(request) ? request : {}) as Record<string, unknown>;
    const { v, op } = fields;
    if (v !== CONTROL_PROTOCOL_VERSION) return reply({ ok: false, error: `unsupported control protocol version (this node speaks ${CONTROL_PROTOCOL_VERSION})` });
    const run = typeof op === 'string' ? ops.get(op) : undefined;
    if (run === undefined) return reply({ ok: false, error: `unknown op (known: ${[...ops.keys()].join(', ')})` });
    Promise.resolve()
      .then(() => run(fields))
      .then(
        (status: unknown) => reply({ ok: true, status }),
        (error: unknown) => reply({ ok: false, error: `${String(op)} failed: ${(error as Error).message}` }),
      );
  });
}

/** A socket left by a node that died is removed; a live node's socket, a symlink or any other file is refused. */
async function clearStaleSocket(path: string): Promise<void> {
  const stats = lstatOrUndefined(path);
  if (stats === undefined) return;
  refuseUntrusted(path, stats);
  const answered = await queryControlSocket(path).then(
    (status) => status !== undefined,
    () => true,
  );
  if (answered) throw new CommandFailedError(`another node serves ${path}; stop it first`);
  rmSync(path, { force: true });
}

function refuseUntrusted(path: string, stats: Stats): void {
  if (stats.isSymbolicLink()) throw new CommandFailedError(`${path} is a symbolic link; refusing to use it as the control socket (remove it)`);
  if (!stats.isSocket()) throw new CommandFailedError(`${path} exists and is not a socket; refusing to use it as the control socket (remove it)`);
  if (process.getuid !== undefined && stats.uid !== process.getuid()) throw new CommandFailedError(`${path} belongs to another user; refusing to use it`);
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Stops serving and removes the socket file, if it is still the one this server made. */
async function closeServer(server: Server, path: string, made: Stats): Promise<void> {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const now = lstatOrUndefined(path);
  if (now !== undefined && now.ino === made.ino && now.dev === made.dev) rmSync(path, { force: true });
}
