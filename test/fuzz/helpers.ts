/**
 * What the fuzzers share: how many cases to run (a short slice by default, AHENK_FUZZ_RUNS for the
 * long mode), the bound on one case's time, and a digest of a whole database to tell that a
 * refused input changed nothing.
 */
import { expect } from 'vitest';
import { AhenkError } from '../../src/index.ts';
import type { SqliteConnection } from '../../src/sqlite/index.ts';

/** Cases per fuzzer: AHENK_FUZZ_RUNS (e.g. 100000 for the long mode), else the CI slice. */
export function fuzzRuns(short: number): number {
  const runs = Number(process.env.AHENK_FUZZ_RUNS ?? short);
  if (!Number.isSafeInteger(runs) || runs < 1) throw new Error(`AHENK_FUZZ_RUNS must be a positive integer, not ${process.env.AHENK_FUZZ_RUNS}`);
  return runs;
}

/** One case may take this long (a synchronous hang shows as a case far over it). */
export const CASE_MS = 2000;

/** Runs `fn`; a failure must be an AhenkError with a code. Returns the error, or undefined. */
export function refusedOrDone(fn: () => unknown): AhenkError | undefined {
  const start = performance.now();
  let error: unknown;
  try {
    fn();
  } catch (caught) {
    error = caught;
  }
  const took = performance.now() - start;
  expect(took, 'one case took too long').toBeLessThan(CASE_MS);
  if (error === undefined) return undefined;
  if (!(error instanceof AhenkError) || typeof error.code !== 'string' || error.code.length === 0) {
    throw new Error(`not an AhenkError with a code: ${String((error as Error)?.stack ?? error)}`);
  }
  return error;
}

/** Every table's rows (Ahenk's included), in a text a refused input must leave equal. */
export function databaseDigest(raw: SqliteConnection): string {
  const tables = raw.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`).all() as { name: string }[];
  const parts: string[] = [];
  for (const { name } of tables) {
    // A held entry's bytes are large and never change in place: its row's other columns stand for it.
    const columns = name === 'ahenk_quarantine' ? 'id, table_name, reason, received_at, bytes, hlc, device' : '*';
    const rows = raw.prepare(`SELECT ${columns} FROM "${name.replaceAll('"', '""')}"`).all();
    parts.push(name, JSON.stringify(rows, (_key, value: unknown) => (typeof value === 'bigint' ? `${value}n` : value instanceof Uint8Array ? `x${Buffer.from(value).toString('hex')}` : value)));
  }
  return parts.join('\n');
}

/** Heap in use after a collection when the runtime offers one (node --expose-gc), else as it is. */
export function heapUsed(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed;
}
