/**
 * Benchmarks are not tests (they print figures and assert no timing), but a bench that no longer
 * runs is found only when someone needs its numbers: this runs every suite on a few hundred rows
 * and checks each prints its full table.
 */
import { spawnSync } from 'node:child_process';
import { delimiter, dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ADAPTERS, defaultAdapter, openConnection, type AdapterName } from '../src/sqlite/index.ts';

/** Whether this process can open `adapter` (node:sqlite needs Node 22.16+, better-sqlite3 a build for this Node). */
function opens(adapter: AdapterName): boolean {
  try {
    openConnection(':memory:', { adapter }).close();
    return true;
  } catch {
    return false;
  }
}

// `npm run bench` measures both adapters, running itself again under Node 22 with better-sqlite3
// built for it when this Node cannot open both; building that addon takes minutes on a fresh
// checkout, too long for a test. So the bench here measures both adapters only where this Node
// opens both (Node 24 with its own build, `npm run test:node24`), else the adapter under test.
const nodeAdapters = ADAPTERS.filter((adapter) => adapter !== 'sqlite-wasm');
const adapters = nodeAdapters.every(opens) ? nodeAdapters : [defaultAdapter()];

describe('npm run bench', () => {
  it(`runs every suite end to end on a small workload (foundation on ${adapters.join(' and ')})`, () => {
    const run = spawnSync('npm', ['run', '--silent', 'bench'], {
      encoding: 'utf8',
      timeout: 120_000,
      env: {
        ...process.env,
        // The bench runs on the Node that runs the tests (and so on the adapter AHENK_SQLITE names,
        // which may need a newer Node than the one first on PATH).
        PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`,
        AHENK_BENCH_ADAPTERS: adapters.join(','),
        AHENK_BENCH_ROWS: '300',
        AHENK_BENCH_RUNS: '1',
        AHENK_BENCH_BIG_ROWS: '300',
        AHENK_BENCH_BIG_RUNS: '1',
        AHENK_BENCH_LIVE_WRITES: '5',
        AHENK_BENCH_LOG_ROWS: '300',
        AHENK_BENCH_LOG_UPDATES: '3000',
        AHENK_BENCH_LOG_COMPACT_EVERY: '1000',
        AHENK_BENCH_NODES: '3',
        AHENK_BENCH_TOPOLOGY_ROUNDS: '20',
      },
    });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).not.toContain('running the bench again');
    expect(run.stdout).toContain('## foundation: 300 rows');
    expect(run.stdout).toContain('compactOplog after those');
    expect(run.stdout).toMatch(/## sync/);
    expect(run.stdout).toMatch(/## scale/);
    expect(run.stdout).toMatch(/topology \(.*\): 3 nodes.*every table and export identical/);
    // Every table row of the report carries a figure, not an empty cell.
    const rows = run.stdout.split('\n').filter((line) => line.startsWith('| ') && !line.startsWith('| phase') && !line.startsWith('| figure'));
    expect(rows.length).toBeGreaterThan(20);
    for (const row of rows) expect(row, row).not.toMatch(/\|\s*\|/);

    // Every foundation line once per key kind and adapter: the same phases for each.
    const cells = rows.map((row) => row.split('|').map((cell) => cell.trim()));
    const phasesOf = (keys: string, adapter: string) => cells.filter((c) => c[2] === keys && c[3] === adapter).map((c) => c[1]);
    const expected = phasesOf('UUIDv7', adapters[0]!);
    expect(expected).toContain('insert');
    expect(expected).toContain('merge into empty db vs upsert');
    expect(expected.length).toBe(14);
    for (const keys of ['UUIDv4', 'UUIDv7']) for (const adapter of adapters) expect(phasesOf(keys, adapter), `${keys} on ${adapter}`).toEqual(expected);
    if (adapters.length > 1) expect(run.stdout).toContain('node:sqlite / better-sqlite3 (same keys)');
    expect(run.stdout).toContain('UUIDv4 / UUIDv7 (same adapter)');
  }, 130_000);
});
