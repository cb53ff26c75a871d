/**
 * The log stays bounded under many updates (issue 12, item 8), scaled down from the bench's 1M
 * updates to 10k rows (`npm run bench -- scale`): 40k updates of random rows and random column sets
 * to 1k rows, compacted as a sync node does (slices of COMPACT_SLICE_ENTRIES) every 10k updates.
 * A row keeps at most its insert plus one entry per column after compaction (an insert's
 * all-columns mask is superseded only by another insert), so the log cannot outgrow that however
 * long the history; the file stays within a fixed factor of the same data in a plain table.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { runLogBound } from '../../bench/log-bound.ts';
import { defaultAdapter } from '../../src/sqlite/index.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('the log under many updates', () => {
  it('40k updates to 1k rows: after every compaction at most 5 log rows a row, and not growing; the file within 8x of the plain data', () => {
    const dir = mkdtempSync(`${tmpdir()}/ahenk-log-bound-`);
    dirs.push(dir);
    const rows = 1000;
    const result = runLogBound({ rows, updates: 40_000, compactEvery: 10_000, adapter: defaultAdapter(), dir, seed: 8 });
    console.log(`log bound: log rows before each compaction ${result.logRowsBefore.join(', ')}, after ${result.logRowsAfter.join(', ')}; file after each ${result.fileBytesAfter.join(', ')}; file ${result.synced.vacuumed.fileBytes} bytes vacuumed against ${result.plain.vacuumed.fileBytes} plain`);
    expect(result.compactions).toBe(4);
    // Without compaction the log would hold the 1k inserts and all 40k updates.
    expect(result.logRowsBefore.at(-1)).toBeGreaterThan(10_000);
    for (const after of result.logRowsAfter) expect(after).toBeLessThanOrEqual(5 * rows);
    // Steady state: the fourth compaction leaves about what the third did (random column sets). The
    // first leaves less: with no peer the fold joins every row's entries into one log row, and
    // compaction keeps later entries apart (at most one per column, as said above).
    expect(result.logRowsAfter[3]!).toBeLessThan(result.logRowsAfter[2]! * 1.2);
    expect(result.synced.vacuumed.fileBytes).toBeLessThan(8 * result.plain.vacuumed.fileBytes);
    // Unvacuumed, the file reuses the pages compaction frees: it does not grow from one interval to the next.
    expect(result.fileBytesAfter[3]!).toBeLessThanOrEqual(result.fileBytesAfter[2]! * 1.1);
    // VACUUM gives back the pages of the compacted entries.
    expect(result.synced.vacuumed.fileBytes).toBeLessThan(result.synced.raw.fileBytes);
  }, 30_000);
});
