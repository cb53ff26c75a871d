/**
 * The bench's side of its child processes (bench/sync-peer.ts): start, request over IPC, read
 * memory and socket counters from /proc and ss, and always kill. Every child is killed when the
 * bench exits, whatever the cause; a child also exits by itself when its IPC channel closes.
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { PeerRole } from './sync-peer.ts';

const PEER_SCRIPT = fileURLToPath(new URL('./sync-peer.ts', import.meta.url));
const STOP_TIMEOUT_MS = 10_000;

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function killAll(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

/** Extra node flags for the children, e.g. AHENK_BENCH_CHILD_FLAGS='--cpu-prof --cpu-prof-dir=/tmp/prof'. */
function childFlags(): string[] {
  const flags = process.env['AHENK_BENCH_CHILD_FLAGS'];
  return flags === undefined || flags.trim() === '' ? [] : flags.trim().split(/\s+/);
}

export class BenchChild<Ready = unknown> {
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  readonly #exited: Promise<number | null>;
  #nextId = 1;
  #exitError: Error | undefined;

  private constructor(
    readonly label: string,
    child: ChildProcess,
    readonly ready: Ready,
  ) {
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    child.on('message', (message: { id?: number; result?: unknown; error?: string }) => {
      const waiter = message.id === undefined ? undefined : this.#pending.get(message.id);
      if (waiter === undefined) return;
      this.#pending.delete(message.id!);
      if (message.error !== undefined) waiter.reject(new Error(`${label}: ${message.error}`));
      else waiter.resolve(message.result);
    });
    child.once('exit', (code, signal) => {
      running.delete(child);
      this.#exitError = new Error(`${label} exited (code ${String(code)}, signal ${String(signal)})`);
      for (const waiter of this.#pending.values()) waiter.reject(this.#exitError);
      this.#pending.clear();
    });
  }

  /** Forks a child in `role` and resolves with its first message (`{ ready }`). */
  static start<Ready>(label: string, role: PeerRole, log: (line: string) => void, timeoutMs = 120_000): Promise<BenchChild<Ready>> {
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on('exit', killAll);
    }
    const child = fork(PEER_SCRIPT, [JSON.stringify(role)], {
      execArgv: ['--import', 'tsx', ...childFlags()],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    running.add(child);
    // Children never write to the report (stdout); anything they print is progress on stderr.
    for (const stream of [child.stdout, child.stderr]) stream?.on('data', (chunk: Buffer) => log(`  [${label}] ${chunk.toString().trimEnd()}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`${label} did not start within ${timeoutMs} ms`)), timeoutMs);
      const fail = (error: Error): void => {
        clearTimeout(timer);
        child.kill('SIGKILL');
        reject(error);
      };
      child.once('exit', (code, signal) => fail(new Error(`${label} exited before it was ready (code ${String(code)}, signal ${String(signal)})`)));
      child.once('message', (message: { ready?: Ready }) => {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve(new BenchChild(label, child, message.ready as Ready));
      });
    });
  }

  get pid(): number {
    return this.#child.pid!;
  }

  request<T>(cmd: string, args: Record<string, unknown> = {}, timeoutMs = 120_000): Promise<T> {
    if (this.#exitError) return Promise.reject(this.#exitError);
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${this.label}: no answer to ${cmd} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (value) => (clearTimeout(timer), resolve(value as T)),
        reject: (error) => (clearTimeout(timer), reject(error)),
      });
      this.#child.send({ id, cmd, args });
    });
  }

  /** Resets the peak RSS the kernel keeps (VmHWM), so the next reading covers only what follows. */
  resetPeak(): boolean {
    try {
      writeFileSync(`/proc/${this.pid}/clear_refs`, '5');
      return true;
    } catch {
      return false;
    }
  }

  /** VmHWM and VmRSS of the child in KiB, from /proc (undefined where /proc is missing). */
  memory(): { peakKiB: number; rssKiB: number } | undefined {
    try {
      const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
      const field = (name: string) => Number(/^(\w+):\s+(\d+) kB$/m.exec(status.split('\n').find((l) => l.startsWith(`${name}:`)) ?? '')?.[2] ?? Number.NaN);
      return { peakKiB: field('VmHWM'), rssKiB: field('VmRSS') };
    } catch {
      return undefined;
    }
  }

  /** Waits for the child to exit (a merge child ends by itself); kills it after the timeout. */
  async exited(timeoutMs = STOP_TIMEOUT_MS): Promise<void> {
    const timer = setTimeout(() => this.kill(), timeoutMs);
    await this.#exited;
    clearTimeout(timer);
  }

  /** Asks a node child to stop cleanly; kills it if it does not exit in time. */
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    await this.request('stop', {}, STOP_TIMEOUT_MS).catch(() => this.kill());
    await this.exited();
  }

  kill(): void {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGKILL');
  }
}

/**
 * TCP payload bytes (what Noise, Yamux, multistream-select, identify and the sync frames put on
 * the socket; IP and TCP headers are not counted) of the established sockets whose local port is
 * `port`, from the kernel's tcp_info via `ss`. Undefined where ss is not available.
 */
export function socketBytes(port: number): { sent: number; received: number; sockets: number } | undefined {
  const out = spawnSync('ss', ['-tinH', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8' });
  if (out.status !== 0 || out.error) return undefined;
  let sent = 0;
  let received = 0;
  let sockets = 0;
  for (const line of out.stdout.split('\n')) {
    // One socket is a line of addresses, then an indented line of tcp_info.
    if (/^\S/.test(line)) sockets += 1;
    sent += Number(/bytes_sent:(\d+)/.exec(line)?.[1] ?? 0);
    received += Number(/bytes_received:(\d+)/.exec(line)?.[1] ?? 0);
  }
  return { sent, received, sockets };
}

/** The TCP port of a multiaddr such as /ip4/127.0.0.1/tcp/4001/p2p/... */
export function tcpPort(address: string): number {
  const port = /\/tcp\/(\d+)/.exec(address)?.[1];
  if (port === undefined) throw new Error(`no TCP port in ${address}`);
  return Number(port);
}
