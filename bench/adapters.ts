/**
 * Which SQLite adapters the bench measures, and a Node that can open them all in one process.
 * node:sqlite needs Node 22.16 or later and better-sqlite3 a build for the running Node: when this
 * process lacks one, the bench runs again under Node 22 (scripts/node-runtime.mjs fetches it from
 * npm and builds better-sqlite3 for it once; a module hook points `import 'better-sqlite3'` at
 * that build), so `npm run bench` gives both adapters on any Node the package installs on.
 */
import { spawn, spawnSync } from 'node:child_process';
import { constants } from 'node:os';
import { ADAPTERS, checkAdapter, openConnection, type AdapterName } from '../src/sqlite/index.ts';

/** The Node major the bench runs again under for node:sqlite (22.16+, the adapter's minimum). */
const NODE_SQLITE_MAJOR = 22;
/** Set in the re-run, so a Node that still cannot open an adapter fails instead of looping. */
const RERUN_MARK = 'AHENK_BENCH_RERUN';

/** AHENK_BENCH_ADAPTERS (a comma list), else both; in ADAPTERS order, so better-sqlite3 is the baseline. */
export function benchAdapters(): AdapterName[] {
  const text = process.env.AHENK_BENCH_ADAPTERS ?? '';
  // sqlite-wasm is the browser's SQLite: bench/browser.ts measures it in Chromium, on OPFS.
  if (text.trim() === '') return ADAPTERS.filter((adapter) => adapter !== 'sqlite-wasm');
  const named = text.split(',').map((name) => name.trim()).filter((name) => name !== '').map((name) => checkAdapter(name, 'AHENK_BENCH_ADAPTERS'));
  return ADAPTERS.filter((adapter) => named.includes(adapter));
}

/** Why `adapter` cannot open a database in this process (the error, on one line), or undefined. */
export function adapterProblem(adapter: AdapterName): string | undefined {
  try {
    openConnection(':memory:', { adapter }).close();
    return undefined;
  } catch (error) {
    return (error instanceof Error ? error.message : String(error)).replace(/\s+/g, ' ');
  }
}

/** scripts/node-runtime.mjs, as this file uses it. */
interface NodeRuntime {
  nodeBinary(major: number): string;
  betterSqlite3For(node: string): string;
  runtimeEnv(node: string, betterSqlite3Entry?: string): NodeJS.ProcessEnv;
}

/**
 * Returns undefined when this process can open every adapter in `needed`. Otherwise runs the same
 * bench command under a Node that can (saying so on stderr) and resolves to its exit status.
 */
export async function rerunIfAdaptersMissing(needed: readonly AdapterName[]): Promise<number | undefined> {
  const problems = needed.flatMap((adapter) => {
    const problem = adapterProblem(adapter);
    return problem === undefined ? [] : [{ adapter, problem }];
  });
  if (problems.length === 0) return undefined;
  const why = problems.map((p) => `${p.adapter}: ${p.problem}`).join('; ');
  if (process.env[RERUN_MARK] !== undefined) throw new Error(`bench: Node ${process.version} still cannot open ${why}`);

  const runtime = (await import(new URL('../scripts/node-runtime.mjs', import.meta.url).href)) as NodeRuntime;
  // The helpers report their progress (fetching Node, building better-sqlite3) on stderr.
  const node = problems.some((p) => p.adapter === 'node:sqlite') ? runtime.nodeBinary(NODE_SQLITE_MAJOR) : process.execPath;
  if (node === process.execPath && problems.some((p) => p.adapter === 'node:sqlite')) {
    throw new Error(`bench: node:sqlite needs Node ${NODE_SQLITE_MAJOR}.16 or later and this is Node ${process.version} (${why}); run it on a newer Node ${NODE_SQLITE_MAJOR} or restrict AHENK_BENCH_ADAPTERS`);
  }
  // npm built better-sqlite3 for the Node that installed it; another Node needs its own build.
  const needsBuild = needed.includes('better-sqlite3') && (node !== process.execPath || problems.some((p) => p.adapter === 'better-sqlite3'));
  const entry = needsBuild ? runtime.betterSqlite3For(node) : undefined;

  const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
  console.error(`bench: this process cannot open ${why}; running the bench again under Node ${version} (${node})${entry === undefined ? '' : ' with better-sqlite3 built for it'}`);
  // process.execArgv carries tsx's loader, argv[1] is this script: the same command on another Node.
  const child = spawn(node, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...runtime.runtimeEnv(node, entry), [RERUN_MARK]: '1' },
  });
  // The re-run removes its files on SIGINT and SIGTERM: pass them on and wait for it.
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => resolve(code ?? 128 + (signal === null ? 0 : constants.signals[signal])));
    });
  } finally {
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
  }
}
