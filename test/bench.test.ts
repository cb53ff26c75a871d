/**
 * Benchmarks are not tests (they print figures and assert no timing), but a bench that no longer
 * runs is found only when someone needs its numbers: this runs every suite on a few hundred rows
 * and checks each prints its full table.
 */
import { spawnSync } from 'node:child_process';
import { delimiter, dirname } from 'node:path';
import { describe, expect, it } from 'vitest';

describe('npm run bench', () => {
  it('runs every suite end to end on a small workload', () => {
    const run = spawnSync('npm', ['run', '--silent', 'bench'], {
      encoding: 'utf8',
      timeout: 120_000,
      env: {
        ...process.env,
        // The bench runs on the Node that runs the tests (and so on the adapter AHENK_SQLITE names,
        // which may need a newer Node than the one first on PATH).
        PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`,
        AHENK_BENCH_ROWS: '300',
        AHENK_BENCH_RUNS: '1',
        AHENK_BENCH_BIG_ROWS: '300',
        AHENK_BENCH_BIG_RUNS: '1',
        AHENK_BENCH_LIVE_WRITES: '5',
      },
    });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain('## foundation: 300 rows');
    expect(run.stdout).toContain('compactOplog after those');
    expect(run.stdout).toMatch(/## sync/);
    // Every table row of the report carries a figure, not an empty cell.
    const rows = run.stdout.split('\n').filter((line) => line.startsWith('| ') && !line.startsWith('| phase') && !line.startsWith('| figure'));
    expect(rows.length).toBeGreaterThan(20);
    for (const row of rows) expect(row, row).not.toMatch(/\|\s*\|/);
  }, 130_000);
});
