/**
 * `npm run bench [suite...]`: prints machine facts and one markdown table per suite. Sizes come
 * from AHENK_BENCH_ROWS (default 100000) and AHENK_BENCH_RUNS (default 5), so
 * `AHENK_BENCH_ROWS=2000 AHENK_BENCH_RUNS=1 npm run bench` is a quick smoke run. The foundation
 * suite measures both SQLite adapters (AHENK_BENCH_ADAPTERS=better-sqlite3 or =node:sqlite keeps
 * one), the sync suite the default one (AHENK_SQLITE); on a Node that cannot open them all the
 * bench runs again under Node 22 (adapters.ts). The scale suite (scale.ts) measures the log's size
 * on both adapters and ten sync nodes on the default one; its sizes have their own variables.
 */
import { defaultAdapter, type AdapterName } from '../src/sqlite/index.ts';
import { benchAdapters, rerunIfAdaptersMissing } from './adapters.ts';
import { runFoundation } from './foundation.ts';
import { renderSuite, type SuiteResult } from './report.ts';
import { benchDir, envInt, machineInfo } from './util.ts';

interface SuiteConfig {
  rows: number;
  runs: number;
  dir: string;
  log: (line: string) => void;
  /** The adapters the foundation suite measures. */
  adapters: readonly AdapterName[];
}

const SUITES: Record<string, (config: SuiteConfig) => Promise<SuiteResult>> = {
  foundation: runFoundation,
  sync: async (config) => (await import('./sync.ts')).runSync(config),
  scale: async (config) => (await import('./scale.ts')).runScale(config),
};

async function main(): Promise<void> {
  const rows = envInt('AHENK_BENCH_ROWS', 100_000);
  const runs = envInt('AHENK_BENCH_RUNS', 5);
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((name) => !(name in SUITES));
  if (unknown.length > 0) throw new Error(`unknown suite ${unknown.join(', ')}; known: ${Object.keys(SUITES).join(', ')}`);
  const names = wanted.length > 0 ? wanted : Object.keys(SUITES);
  const adapters = benchAdapters();
  const needed = new Set<AdapterName>(names.includes('foundation') || names.includes('scale') ? adapters : []);
  if (names.includes('sync') || names.includes('scale')) needed.add(defaultAdapter());
  const rerunStatus = await rerunIfAdaptersMissing([...needed]);
  if (rerunStatus !== undefined) {
    process.exitCode = rerunStatus;
    return;
  }

  console.log('# Ahenk benchmarks\n');
  for (const [key, value] of machineInfo([...needed])) console.log(`- ${key}: ${value}`);
  console.log(`- rows per phase: ${rows} (AHENK_BENCH_ROWS), runs: ${runs} (AHENK_BENCH_RUNS)\n`);

  // Progress goes to stderr, so stdout is only the report.
  const log = (line: string) => console.error(line);
  const dir = benchDir();
  try {
    for (const name of names) {
      const started = performance.now();
      const result = await SUITES[name]!({ rows, runs, dir: dir.path, log, adapters });
      log(`${name}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
      console.log(`${renderSuite(result)}\n`);
    }
  } finally {
    dir.remove();
  }
}

await main();
