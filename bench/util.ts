/**
 * Shared bench plumbing: configuration from the environment, timing, temp dirs, formatting.
 * Benchmarks print figures; they assert only what would make a figure meaningless.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, cpus, platform, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { defaultAdapter, openConnection, type AdapterName } from '../src/sqlite/index.ts';

/** A positive integer from the environment, or the fallback when unset. */
export function envInt(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, not ${JSON.stringify(text)}`);
  return value;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

// `npm run bench` cannot pass --expose-gc through tsx, so the flag is set at run time; a major GC
// before each timed section keeps garbage of the previous phase out of the next one's figure.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as (() => void) | undefined;

export function collectGarbage(): void {
  gc?.();
}

/** Milliseconds taken by fn, after a full GC. */
export function timeMs(fn: () => void): number {
  collectGarbage();
  const start = performance.now();
  fn();
  return performance.now() - start;
}

/** Lets a pending SIGINT handler run between phases (everything inside a phase is synchronous). */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * A temp directory for one bench process, deleted at exit, on an exception and on Ctrl-C
 * (between phases; a phase in progress finishes first).
 */
export function benchDir(prefix = 'ahenk-bench-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  const remove = () => rmSync(path, { recursive: true, force: true });
  const onSignal = () => {
    remove();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('exit', remove);
  return {
    path,
    remove: () => {
      process.off('SIGINT', onSignal);
      process.off('exit', remove);
      remove();
    },
  };
}

export function formatMs(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}

export function formatRatio(ratio: number): string {
  return `${ratio.toFixed(2)}x`;
}

export function formatBytes(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(2)} MiB`;
}

export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

export function machineInfo(adapters: readonly AdapterName[]): [string, string][] {
  // Each adapter brings its own SQLite: better-sqlite3 bundles one, node:sqlite uses Node's.
  const sqlite = adapters.map((adapter) => {
    const probe = openConnection(':memory:', { adapter });
    const version = probe.prepare('SELECT sqlite_version()').value() as string;
    probe.close();
    const driver = adapter === 'better-sqlite3' ? `better-sqlite3 ${(createRequire(import.meta.url)('better-sqlite3/package.json') as { version: string }).version}` : `${adapter} of Node ${process.version}`;
    return `${version} (${driver})`;
  });
  const cpu = cpus();
  return [
    ['node', process.version],
    ['sqlite', sqlite.join('; ')],
    ['default adapter (AHENK_SQLITE; the sync suite runs on it)', defaultAdapter()],
    ['cpu', `${cpu[0]?.model.trim() ?? 'unknown'} x${cpu.length}`],
    ['os', `${platform()} ${release()} ${arch()}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM`],
    ['temp dir', tmpdir()],
    ['ahenk', sourceRevision()],
    ['gc between phases', gc ? 'yes' : 'no (could not expose gc)'],
  ];
}

/** Which code was measured: the commit, and whether src/ had uncommitted changes. */
function sourceRevision(): string {
  const git = (...args: string[]) => spawnSync('git', args, { cwd: new URL('..', import.meta.url), encoding: 'utf8' });
  const head = git('rev-parse', '--short', 'HEAD');
  if (head.status !== 0) return 'unknown (not a git checkout)';
  const dirty = git('status', '--porcelain', '--', 'src', 'migrations').stdout.trim() !== '';
  return `git ${head.stdout.trim()}${dirty ? ' + uncommitted changes in src/ or migrations/' : ''}`;
}
