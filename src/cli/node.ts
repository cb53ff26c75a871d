/**
 * What start, pair and join share: the network flags, starting a sync node from them, and one
 * output line per node event.
 */
import type { Logger } from 'pino';
import { ListenPortInUseError, NodeConfigError } from '../sync/node/errors.ts';
import { createSyncNode, type SyncNode } from '../sync/node/node.ts';
import type { P2PConfig } from '../sync/node/config.ts';
import type { CliDatabase } from './context.ts';
import { flag, stringOption, stringsOption } from './context.ts';
import type { LogLevel } from './daemon-log.ts';
import { CommandFailedError, UsageError } from './errors.ts';
import { writeLine, type CliIo } from './io.ts';
import { ProgressTracker, progressFields, renderProgressLine } from './progress.ts';
import type { CommandContext, OptionSpec } from './spec.ts';

/**
 * What `ahenk start` listens on without --listen: TCP on the kept port and WebSockets on a second
 * kept port, so a web page (ahenk/browser) on this machine or its LAN can dial the daemon
 * (docs/decisions.md, "The daemon listens on WebSockets"). The one-shot commands keep the library's TCP-only default.
 */
export const DAEMON_LISTEN_ADDRESSES: readonly string[] = ['/ip4/0.0.0.0/tcp/0', '/ip4/0.0.0.0/tcp/0/ws'];

export const NODE_OPTIONS: readonly OptionSpec[] = [
  { flags: '--listen <multiaddr>', description: 'address to listen on, repeatable (default: /ip4/0.0.0.0/tcp/0, and for start also /ip4/0.0.0.0/tcp/0/ws; port 0 is this device\'s kept port)', repeatable: true },
  { flags: '--port <port>', description: 'listen on this TCP port and keep it for later runs (default: a free port chosen at the first start, then kept)' },
  { flags: '--peer <multiaddr>', description: 'a peer to dial and keep reconnecting to, repeatable', repeatable: true },
  { flags: '--relay <multiaddr>', description: 'a circuit-relay-v2 server (ending in /p2p/<id>) to be reachable through, repeatable', repeatable: true },
  { flags: '--mdns', description: 'find peers on the local network with mDNS (announces this device on every attached network)' },
  { flags: '--verbose', description: 'also print the node\'s own log lines (sessions, reconnects)' },
];

/** Starts a node with the network flags; a bad address is a usage error. */
export async function startNode(db: CliDatabase, context: CommandContext, log: EventLog, overrides: Pick<P2PConfig, 'live' | 'listenAddresses'> = {}): Promise<SyncNode> {
  const listen = stringsOption(context, 'listen');
  const config: P2PConfig = {
    ...overrides,
    bootstrapPeers: stringsOption(context, 'peer'),
    relayServers: stringsOption(context, 'relay'),
    // Asked for by name on the command line: the user wants this machine seen on its LAN, which the
    // library's isolated-network check (meant for tests) would refuse on any real machine.
    enableMdns: flag(context, 'mdns'),
    mdnsInterfaceCheck: false,
  };
  if (listen.length > 0) config.listenAddresses = listen;
  const port = portOption(context);
  if (port !== undefined) config.port = port;
  if (flag(context, 'verbose')) config.log = (message) => log.line('log', { message }, message);
  try {
    const node = await createSyncNode(db, config);
    // Not only with --verbose: a device its peers cannot find where they expect it should say so.
    const unavailable = node.listenPort.unavailable;
    if (unavailable !== undefined) log.line('warning', { message: unavailable }, `WARNING: ${unavailable}`);
    return node;
  } catch (error) {
    if (error instanceof ListenPortInUseError) throw new CommandFailedError(`--port ${error.port}: ${error.message}`, undefined, { cause: error });
    if (error instanceof NodeConfigError) throw new UsageError(flagNames(error.message));
    // libp2p reports a listen failure as a page about its own config; say what the user can act on.
    if (error instanceof Error && /listen/i.test(error.message)) {
      const where = listen.length > 0 ? listen.join(', ') : 'the default address';
      throw new CommandFailedError(`cannot listen on ${where}: the port may be in use or the address not on this machine (AHENK_DEBUG=1 shows libp2p's report)`, undefined, { cause: error });
    }
    throw error;
  }
}

function portOption(context: CommandContext): number | undefined {
  const text = stringOption(context, 'port');
  if (text === undefined) return undefined;
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 1 || port > 65_535) throw new UsageError(`--port must be a TCP port from 1 to 65535, got "${text}"`);
  return port;
}

const FLAG_OF_FIELD: Readonly<Record<string, string>> = { listenAddresses: '--listen', bootstrapPeers: '--peer', relayServers: '--relay' };

/** The library names its config fields; the user typed flags. */
function flagNames(message: string): string {
  return message.replace(/^(listenAddresses|bootstrapPeers|relayServers)\b/, (field) => FLAG_OF_FIELD[field] ?? field);
}

/** How often the same unreachable report is repeated while a device stays away. */
const UNREACHABLE_REPEAT_MS = 3_600_000;

type Fields = Record<string, string | number | boolean | null | string[]>;

/** A terminal is redrawn at most this often: a 600k-row sync has hundreds of batches a second at its peak. */
const REDRAW_INTERVAL_MS = 100;
const CLEAR_LINE = '\r\u001b[K';

/** Events the daemon logs above `info`: what a person should look at. Everything else is `info`. */
const LEVEL_OF_EVENT: ReadonlyMap<string, LogLevel> = new Map([
  ['error', 'error'],
  ['warning', 'warn'],
  ['peer:unreachable', 'warn'],
  ['peer:direct-failed', 'warn'],
  ['device:revoked', 'warn'],
  ['clock:drift', 'warn'],
  ['log', 'debug'],
  ['sync:progress', 'debug'],
]);
/** Keys pino writes itself: pino does not guard them, so a field of the same name would be a second key that wins on parse. */
const PINO_KEYS = new Set(['level', 'time', 'msg', 'pid', 'hostname']);

/** An event's fields with any of pino's own keys renamed (`level` becomes `field_level`). */
function loggableFields(fields: Fields): Fields {
  if (!Object.keys(fields).some((key) => PINO_KEYS.has(key))) return fields;
  return Object.fromEntries(Object.entries(fields).map(([key, value]) => [PINO_KEYS.has(key) ? `field_${key}` : key, value]));
}

/** The daemon's log gets a progress line at most this often (and the last one of a session). */
const LOGGED_PROGRESS_INTERVAL_MS = 1000;

/**
 * One line per event: `<ISO time> <text>`, or one JSON object per line with --json. Progress is a
 * bar redrawn in place at a terminal (cleared before the next line), a JSON line with --json, and
 * nothing in a plain pipe (a log file gains nothing from hundreds of progress lines). Given a pino
 * logger (the daemon), every line goes to it instead, at its event's level, with the text as the
 * message.
 */
export class EventLog {
  readonly #io: CliIo;
  readonly #json: boolean;
  readonly #logger: Logger | undefined;
  readonly #tracker = new ProgressTracker();
  #barShown = false;
  #lastDraw = -Infinity;

  constructor(io: CliIo, json: boolean, logger?: Logger) {
    this.#io = io;
    this.#json = json;
    this.#logger = logger;
  }

  get json(): boolean {
    return this.#json;
  }

  line(event: string, fields: Fields, text: string): void {
    if (this.#logger !== undefined) return this.#logger[LEVEL_OF_EVENT.get(event) ?? 'info']({ event, ...loggableFields(fields) }, text);
    const time = new Date().toISOString();
    this.#clearBar();
    if (this.#json) writeLine(this.#io.stdout, JSON.stringify({ time, event, ...fields }));
    else writeLine(this.#io.stdout, `${time} ${text}`);
  }

  /** This device's key is revoked on the user's list: said once, in words a person can act on. */
  revoked(by: string, at: number): void {
    this.line(
      'device:revoked',
      { peerId: by, at },
      `this device was revoked: ${by} refused it; it no longer syncs. Its writes stay in the database. ` +
        'To bring it back: ahenk stop (if detached), ahenk reset-identity, then pair it again (ahenk pair on a device of the account, ahenk join here)',
    );
  }

  /** A result line of a command: `text` as it is, or a JSON object with --json. */
  message(event: string, fields: Fields, text: string): void {
    if (this.#logger !== undefined) return this.line(event, fields, text);
    this.#clearBar();
    if (this.#json) writeLine(this.#io.stdout, JSON.stringify({ time: new Date().toISOString(), event, ...fields }));
    else writeLine(this.#io.stdout, text);
  }

  /** Shows the node's sync progress; returns a function that stops (and clears the bar). */
  showProgress(node: SyncNode): () => void {
    if (this.#logger !== undefined) return this.#logProgress(node, this.#logger);
    const tty = this.#io.stdout.isTTY === true;
    if (!this.#json && !tty) return () => {};
    const off = node.on('sync:progress', (event) => {
      const state = this.#tracker.update(event);
      if (this.#json) return this.line('sync:progress', progressFields(state), '');
      const now = performance.now();
      const last = state.totalEntries !== undefined && state.entries >= state.totalEntries;
      if (!last && now - this.#lastDraw < REDRAW_INTERVAL_MS) return;
      this.#lastDraw = now;
      this.#io.stdout.write(CLEAR_LINE + renderProgressLine(state, terminalWidth(this.#io.stdout.columns) - 1));
      this.#barShown = true;
    });
    return () => {
      off();
      this.#clearBar();
    };
  }

  /** The daemon's log: a progress line a second at most (at debug level), and each session's last. */
  #logProgress(node: SyncNode, logger: Logger): () => void {
    if (!logger.isLevelEnabled('debug')) return () => {};
    const lastLogged = new Map<string, number>();
    return node.on('sync:progress', (event) => {
      const state = this.#tracker.update(event);
      const key = `${state.direction} ${state.peerId}`;
      const now = performance.now();
      const last = state.totalEntries !== undefined && state.entries >= state.totalEntries;
      if (!last && now - (lastLogged.get(key) ?? -Infinity) < LOGGED_PROGRESS_INTERVAL_MS) return;
      if (last) lastLogged.delete(key);
      else lastLogged.set(key, now);
      this.line('sync:progress', progressFields(state), renderProgressLine(state, 200));
    });
  }

  #clearBar(): void {
    if (!this.#barShown) return;
    this.#io.stdout.write(CLEAR_LINE);
    this.#barShown = false;
  }

  /** Logs connects, disconnects, completed catch-ups and errors of `node`; returns a function that stops logging. */
  follow(node: SyncNode): () => void {
    const unreachable = new Map<string, { tried: string; at: number }>();
    const offs = [
      node.on('peer:connect', (e) => {
        unreachable.delete(e.peerId);
        this.line('peer:connect', { peerId: e.peerId, authorized: e.authorized, address: e.address, path: e.path }, `connected ${e.peerId} ${e.authorized ? '(on the device list)' : '(not on the device list: no sync)'} ${e.path} ${e.address}`);
      }),
      node.on('peer:path', (e) => this.line('peer:path', { peerId: e.peerId, path: e.path, previous: e.previous ?? null }, `${e.peerId} is reached ${e.path}${e.previous === undefined ? '' : ` (was ${e.previous})`}`)),
      node.on('peer:direct-failed', (e) =>
        this.line('peer:direct-failed', { peerId: e.peerId, error: e.error, waitedMs: e.waitedMs }, `no direct path to ${e.peerId} (${e.error}; no hole punched); sync stays on the relay`),
      ),
      node.on('peer:disconnect', (e) => this.line('peer:disconnect', { peerId: e.peerId }, `disconnected ${e.peerId}`)),
      node.on('sync:complete', (e) =>
        this.line(
          'sync:complete',
          { peerId: e.peerId, sent: e.sent, received: e.received, bytesSent: e.bytesSent, bytesReceived: e.bytesReceived, durationMs: Math.round(e.durationMs) },
          `synced with ${e.peerId}: sent ${e.sent}, received ${e.received} entries (${e.bytesSent + e.bytesReceived} bytes, ${Math.round(e.durationMs)} ms)`,
        ),
      ),
      node.on('peer:unreachable', (e) => {
        const tried = e.tried.map((t) => `${t.address} (${t.error})`);
        // A device that stays away is retried every minute: say it again only when something changed, or hourly.
        const said = unreachable.get(e.peerId);
        const now = Date.now();
        if (said !== undefined && said.tried === tried.join(', ') && now - said.at < UNREACHABLE_REPEAT_MS) return;
        unreachable.set(e.peerId, { tried: tried.join(', '), at: now });
        this.line(
          'peer:unreachable',
          { peerId: e.peerId, tried, backedOff: e.backedOff.map((b) => b.address), retryInMs: e.retryInMs ?? null },
          `cannot reach ${e.peerId}: tried ${tried.join(', ')}` +
            (e.backedOff.length > 0 ? `; left out for now (failed recently): ${e.backedOff.map((b) => b.address).join(', ')}` : '') +
            (e.retryInMs === undefined ? '' : `; next try in ${Math.round(e.retryInMs / 1000)} s`),
        );
      }),
      node.on('network:change', (e) =>
        this.line('network:change', { added: e.added, removed: e.removed }, `network changed: ${[...e.added.map((a) => `+${a}`), ...e.removed.map((r) => `-${r}`)].join(', ')}; listening on ${node.getMultiaddrs().join(', ')}`),
      ),
      node.on('device:revoked', (e) => this.revoked(e.peerId, e.at)),
      node.on('clock:drift', (e) =>
        this.line(
          'clock:drift',
          { direction: e.direction, peerId: e.peerId ?? null, device: e.device ?? null, aheadMs: e.aheadMs, held: e.held, dueAt: e.dueAt },
          e.direction === 'local-ahead'
            ? `clock drift: this device's stamps run ${Math.round(e.aheadMs / 1000)} s ahead of its clock; peers hold its writes back (docs/decisions.md, "Clock drift")`
            : `clock drift: ${e.held} writes of ${e.device ?? e.peerId} stamped ${Math.round(e.aheadMs / 1000)} s ahead of this device's clock, held back until ${new Date(e.dueAt).toISOString()}`,
        ),
      ),
      node.on('error', (e) => this.line('error', { peerId: e.peerId ?? null, message: e.error.message }, `error${e.peerId ? ` with ${e.peerId}` : ''}: ${e.error.message}`)),
    ];
    return () => offs.forEach((off) => off());
  }
}

/** A pseudo-terminal may report no size (0): then a common width. */
function terminalWidth(columns: number | undefined): number {
  return columns !== undefined && columns >= 20 ? columns : 100;
}

/** Resolves when `signal` aborts (never, without one). */
export function untilAborted(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal === undefined) return;
    if (signal.aborted) return resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
