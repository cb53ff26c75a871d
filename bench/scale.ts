/**
 * The scale suite (`npm run bench -- scale`, issue 12 item 8):
 * - log bound: AHENK_BENCH_LOG_UPDATES (default 1M) updates of random rows and columns to
 *   AHENK_BENCH_LOG_ROWS (default 10k) rows, compacted as a node does every
 *   AHENK_BENCH_LOG_COMPACT_EVERY (default 100k) updates (bench/log-bound.ts): the synced file
 *   against the plain table's, compacted and VACUUMed, per adapter;
 * - topology: AHENK_BENCH_NODES (default 10) sync nodes in one process, a random spanning tree
 *   plus AHENK_BENCH_EXTRA_EDGES (default 3) edges, AHENK_BENCH_TOPOLOGY_ROUNDS (default 200)
 *   write rounds on a shared pool of UUIDv4 rows (bench/topology.ts): time to converge and the
 *   session frame bytes all nodes received.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { defaultAdapter, type AdapterName } from '../src/sqlite/index.ts';
import { openSynced, type SyncedDatabase } from './databases.ts';
import { runLogBound, type LogBoundResult } from './log-bound.ts';
import type { PhaseResult, SuiteResult } from './report.ts';
import { runTopology } from './topology.ts';
import { envInt } from './util.ts';

export interface ScaleConfig {
  dir: string;
  log: (line: string) => void;
  adapters: readonly AdapterName[];
}

export async function runScale(config: ScaleConfig): Promise<SuiteResult> {
  const rows = envInt('AHENK_BENCH_LOG_ROWS', 10_000);
  const updates = envInt('AHENK_BENCH_LOG_UPDATES', 1_000_000);
  const compactEvery = envInt('AHENK_BENCH_LOG_COMPACT_EVERY', 100_000);
  const dir = join(config.dir, 'scale');
  mkdirSync(dir, { recursive: true });
  const phases: PhaseResult[] = [];
  const notes: string[] = [];
  for (const adapter of config.adapters) {
    const result = runLogBound({ rows, updates, compactEvery, adapter, dir, seed: 8, log: config.log });
    phases.push(...logPhases(result, adapter));
    notes.push(logNote(result, adapter));
  }

  const nodes = envInt('AHENK_BENCH_NODES', 10);
  const extraEdges = envInt('AHENK_BENCH_EXTRA_EDGES', 3);
  const rounds = envInt('AHENK_BENCH_TOPOLOGY_ROUNDS', 200);
  const opened: SyncedDatabase[] = [];
  try {
    const adapter = defaultAdapter();
    const topology = await runTopology({
      nodes,
      extraEdges,
      rounds,
      keys: 100,
      seed: 12,
      timeoutMs: 120_000,
      log: config.log,
      open: (name) => {
        const db = openSynced(join(dir, `${name}.db`), adapter);
        opened.push(db);
        return db;
      },
    });
    notes.push(
      `topology (${adapter}): ${nodes} nodes, ${topology.edges.length} edges (a random spanning tree plus ${topology.edges.length - (nodes - 1)}), ${topology.writes} writes to 100 UUIDv4 rows in ${rounds} rounds over ${Math.round(topology.writeMs)} ms; ` +
        `every table and export identical ${Math.round(topology.convergeMs)} ms after the last write; ${topology.entries} entries in ${(topology.frameBytes / 1024).toFixed(0)} KiB of session frames received over all nodes (${Math.round(topology.frameBytes / topology.writes)} bytes per write)`,
    );
  } finally {
    for (const db of opened) db.$connection.close();
  }
  return {
    title: `scale: the log under ${updates} updates to ${rows} rows, compacted every ${compactEvery}; ${nodes} nodes in a random topology`,
    phases,
    notes: [
      'plain: the same rows and updates in a plain table in its own file (the data alone); synced: the synced table, its log and metadata. Sizes are after the last compaction, WAL checkpointed.',
      ...notes,
    ],
    variantColumns: ['adapter'],
  };
}

function logPhases(result: LogBoundResult, adapter: AdapterName): PhaseResult[] {
  const line = (phase: string, plain: number, synced: number): PhaseResult => ({ phase, variant: [adapter], unit: 'bytes', plain: [plain], synced: [synced], reference: '-' });
  const { synced, plain } = result;
  const lines = [line('database file, compacted', plain.raw.fileBytes, synced.raw.fileBytes), line('database file, compacted + VACUUM', plain.vacuumed.fileBytes, synced.vacuumed.fileBytes)];
  // dbstat is missing from some SQLite builds: then only the file lines.
  if (plain.vacuumed.tableBytes > 0) {
    lines.push(line('tables after VACUUM', plain.vacuumed.tableBytes, synced.vacuumed.tableBytes), line('indexes after VACUUM', plain.vacuumed.indexBytes, synced.vacuumed.indexBytes));
  }
  return lines;
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(2)} MiB`;

function logNote(result: LogBoundResult, adapter: AdapterName): string {
  const peak = Math.max(...result.logRowsBefore);
  const after = result.logRowsAfter;
  const objects = result.synced.vacuumed.objects;
  const log = objects.ahenk_oplog;
  const history = objects.ahenk_oplog_history;
  return (
    `log (${adapter}): ${result.logRows} log rows for ${result.rows} rows at the end (${(result.logRows / result.rows).toFixed(2)} per row); after each of the ${result.compactions} compactions ${Math.min(...after)}-${Math.max(...after)}, at most ${peak} just before one; the file (not vacuumed) after each compaction ${mib(Math.min(...result.fileBytesAfter))}-${mib(Math.max(...result.fileBytesAfter))}; ` +
    (log === undefined ? '' : `ahenk_oplog ${(log / 1024).toFixed(0)} KiB, ahenk_oplog_history ${((history ?? 0) / 1024).toFixed(0)} KiB after VACUUM; `) +
    `updates ${(result.updateMs / 1000).toFixed(1)} s on both tables, compaction ${(result.compactMs / 1000).toFixed(1)} s in all`
  );
}
