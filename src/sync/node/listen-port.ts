/**
 * The port a device keeps. A listen address with TCP port 0 (the default `/ip4/0.0.0.0/tcp/0`)
 * means "this device's port": a free one is chosen at the first start and stored in ahenk_meta,
 * and every later start asks for it again, so the addresses paired devices remember stay true.
 * `port` in the config replaces it (and is kept from then on). If the kept port is held by another
 * program at start, the node listens on a random port for this run and says so loudly (the kept
 * port is not given up: it is asked for again next time); a port named in the config is not
 * replaced: that start fails (docs/decisions.md, "A device keeps its listen port").
 *
 * A WebSocket listen address with port 0 (`/ip4/0.0.0.0/tcp/0/ws`) means this device's kept
 * WebSocket port, a second one kept the same way (`listen_port_ws`), so a page that was once told
 * `ws://host:port` finds the device there again (docs/decisions.md, "The daemon listens on WebSockets").
 */
import { randomInt } from 'node:crypto';
import { createServer } from 'node:net';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import type { SqliteConnection } from '../../sqlite/index.ts';
import type { ResolvedConfig } from './config.ts';
import { KEPT_PORT_ATTEMPTS, KEPT_PORT_MAX, KEPT_PORT_MIN } from './constants.ts';
import { ListenPortInUseError } from './errors.ts';

const KEPT_PORT_KEY = { tcp: 'listen_port', ws: 'listen_port_ws' } as const;

/** A kept port is for plain TCP addresses or for WebSocket (`/ws`) ones. */
export type ListenKind = keyof typeof KEPT_PORT_KEY;

export interface ListenPort {
  /** The port this device keeps, or undefined when no listen address asked for one (explicit ports, `keepPort: false`). */
  kept: number | undefined;
  /** The WebSocket port this device keeps (for `/tcp/0/ws` listen addresses), or undefined when none asked for one. */
  keptWebSocket?: number | undefined;
  /** Set when the kept port was taken at start and this run listens on a random port instead: what to tell the user. */
  unavailable: string | undefined;
}

export interface ListenPlan {
  addresses: Multiaddr[];
  port: ListenPort;
}

export function readKeptPort(raw: SqliteConnection, kind: ListenKind = 'tcp'): number | undefined {
  const value = raw.prepare('SELECT value FROM ahenk_meta WHERE key = ?').value(KEPT_PORT_KEY[kind]);
  const port = typeof value === 'string' ? Number(value) : NaN;
  return isPort(port) ? port : undefined;
}

export function storeKeptPort(raw: SqliteConnection, port: number, kind: ListenKind = 'tcp'): void {
  raw.prepare('INSERT INTO ahenk_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(KEPT_PORT_KEY[kind], String(port));
}

/**
 * The addresses the node listens on: `config.listenAddresses` with port 0 replaced by the kept port
 * (TCP addresses) or the kept WebSocket port (`/ws` addresses).
 */
export async function planListenAddresses(raw: SqliteConnection, config: ResolvedConfig): Promise<ListenPlan> {
  if (!config.keepPort) return { addresses: config.listenAddresses, port: { kept: undefined, unavailable: undefined } };
  const tcp = await keepPort(raw, config.listenAddresses.filter((a) => hasTcpPortZero(a) && !isWebSocket(a)), 'tcp', config.port, undefined);
  const ws = await keepPort(raw, config.listenAddresses.filter((a) => hasTcpPortZero(a) && isWebSocket(a)), 'ws', undefined, tcp.port);
  const addresses = config.listenAddresses.map((a) => {
    if (!hasTcpPortZero(a)) return a;
    const plan = isWebSocket(a) ? ws : tcp;
    return plan.port !== undefined && plan.unavailable === undefined ? withTcpPort(a, plan.port) : a;
  });
  const unavailable = [tcp.unavailable, ws.unavailable].filter((u) => u !== undefined);
  return { addresses, port: { kept: tcp.port, keptWebSocket: ws.port, unavailable: unavailable.length > 0 ? unavailable.join('; ') : undefined } };
}

/** The kept port of one kind for `wildcard` (its addresses with port 0): chosen at the first start, then asked for again. */
async function keepPort(
  raw: SqliteConnection,
  wildcard: readonly Multiaddr[],
  kind: ListenKind,
  named: number | undefined,
  avoid: number | undefined,
): Promise<{ port: number | undefined; unavailable: string | undefined }> {
  if (wildcard.length === 0) return { port: undefined, unavailable: undefined };
  const hosts = [...new Set(wildcard.map(hostOf).filter((h): h is string => h !== undefined))];
  let port = named ?? readKeptPort(raw, kind);
  if (port === undefined) {
    port = await chooseFreePort(hosts, avoid);
    storeKeptPort(raw, port, kind);
  } else if (named !== undefined && named !== readKeptPort(raw, kind)) {
    storeKeptPort(raw, named, kind);
  }
  for (const host of hosts) {
    const problem = await bindProblem(host, port);
    if (problem !== 'EADDRINUSE' && port !== avoid) continue;
    if (named !== undefined) throw new ListenPortInUseError(port);
    const [what, choose] = kind === 'tcp' ? ['listen port', '--port / P2PConfig.port'] : ['WebSocket listen port', 'a /ws address with its port in --listen / P2PConfig.listenAddresses'];
    const unavailable = `the kept ${what} ${port} is in use by another program; listening on a random port for this run, so devices that know this one only at port ${port} reach it once it has dialled them (free the port, or choose another with ${choose})`;
    return { port, unavailable };
  }
  return { port, unavailable: undefined };
}

function isWebSocket(address: Multiaddr): boolean {
  return address.getComponents().some((c) => c.name === 'ws' || c.name === 'wss');
}

function isPort(value: number): boolean {
  return Number.isInteger(value) && value > 0 && value <= 65_535;
}

function hasTcpPortZero(address: Multiaddr): boolean {
  return address.getComponents().some((c) => c.name === 'tcp' && c.value === '0');
}

function hostOf(address: Multiaddr): string | undefined {
  const first = address.getComponents()[0];
  return first !== undefined && (first.name === 'ip4' || first.name === 'ip6') ? first.value : undefined;
}

function withTcpPort(address: Multiaddr, port: number): Multiaddr {
  return multiaddr(address.toString().replace(/\/tcp\/0(?=\/|$)/, `/tcp/${port}`));
}

/** A random free port in the kept range (free on every host), else any port the OS gives. */
async function chooseFreePort(hosts: readonly string[], avoid: number | undefined): Promise<number> {
  for (let i = 0; i < KEPT_PORT_ATTEMPTS; i++) {
    const port = randomInt(KEPT_PORT_MIN, KEPT_PORT_MAX + 1);
    let free = port !== avoid;
    for (const host of hosts) if ((await bindProblem(host, port)) !== undefined) free = false;
    if (free) return port;
  }
  return osChosenPort(hosts[0] ?? '0.0.0.0');
}

/** Binds `host:port` for a moment: undefined if it could, else the error code (EADDRINUSE, EADDRNOTAVAIL, ...). */
function bindProblem(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    // As libp2p's TCP listener binds: an IPv6 host for IPv6 only, so a v4 socket on the same number is no conflict.
    server.listen({ host, port, exclusive: true, ipv6Only: host.includes(':') }, () => server.close(() => resolve(undefined)));
  });
}

function osChosenPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true, ipv6Only: host.includes(':') }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (isPort(port) ? resolve(port) : reject(new Error(`the OS gave no port on ${host}`))));
    });
  });
}
