/**
 * The foundation benchmark: what capture, export and merge cost against the same work on an
 * identical plain table (same columns, same pragmas, same adapter), on the same run. Every line is
 * measured for each key kind (random UUIDv4, time-ordered UUIDv7) on each adapter the bench runs
 * (better-sqlite3 and node:sqlite unless AHENK_BENCH_ADAPTERS restricts them); its ratio is
 * synced/plain of that key kind on that adapter, and each run starts from fresh database files.
 */
import type { AdapterName } from '../src/sqlite/index.ts';
import { KEY_KINDS, type KeyKind } from './data.ts';
import { CHURN_ROUNDS, emptySamples, makeWorkload, PHASE_KEYS, runPhases, type PhaseKey, type Samples } from './foundation-run.ts';
import type { Pragmas } from './databases.ts';
import type { PairedSamples, PhaseResult, SuiteResult } from './report.ts';
import { PLAIN_TABLE } from './schema.ts';

export interface FoundationConfig {
  rows: number;
  runs: number;
  /** Scratch directory; the caller deletes it. */
  dir: string;
  log: (line: string) => void;
  /** The adapters to measure, each against itself; the first is the one the others are compared with. */
  adapters: readonly AdapterName[];
}

const PHASES: Record<PhaseKey, Omit<PhaseResult, 'plain' | 'synced'>> = {
  insert: { phase: 'insert', unit: 'ms', goal: 2.5, reference: '14.8x' },
  update: { phase: 'update (one column)', unit: 'ms', goal: 2.5, reference: '4.4x' },
  writeFold: { phase: 'insert + update + deferred index fold', unit: 'ms', goal: 2.5, reference: '-' },
  deleteUnfolded: { phase: 'delete (before the fold)', unit: 'ms', goal: 2.5, reference: '-' },
  delete: { phase: 'delete (after the fold)', unit: 'ms', goal: 2.5, reference: '-' },
  insertOther: { phase: 'insert, second connection without Ahenk', unit: 'ms', reference: '-' },
  export: { phase: 'export all changes vs SELECT *', unit: 'ms', goal: 3, reference: '~20x' },
  exportFolded: { phase: 'export as above, after the fold', unit: 'ms', goal: 3, reference: '-' },
  merge: { phase: 'merge into empty db vs upsert', unit: 'ms', goal: 3, reference: '10.5x' },
  size: { phase: 'size after insert+update, VACUUMed (MiB)', unit: 'bytes', goal: 2, reference: '2.6x' },
  sizeFolded: { phase: 'size as above, after the fold (MiB)', unit: 'bytes', goal: 2, reference: '2.6x' },
  churnSize: { phase: `size after insert + ${CHURN_ROUNDS} updates of one column per row (MiB)`, unit: 'bytes', reference: '-' },
  compact: { phase: `compactOplog after those vs the ${CHURN_ROUNDS} plain update rounds`, unit: 'ms', reference: '-' },
  churnCompacted: { phase: 'size as above, after compactOplog (MiB)', unit: 'bytes', reference: '-' },
};

const KEY_LABELS: Record<KeyKind, string> = { v4: 'UUIDv4', v7: 'UUIDv7' };

/** One key kind on one adapter: the samples of every phase, over the runs. */
type VariantSamples = Map<`${KeyKind} ${AdapterName}`, Samples>;

export async function runFoundation(config: FoundationConfig): Promise<SuiteResult> {
  const { rows, runs, adapters, log } = config;
  if (adapters.length === 0) throw new Error('foundation: no adapter to measure');
  // The warm-up round compiles the JS paths (export and merge are mostly JS, each adapter has its
  // own) and fills the page cache; its figures are dropped.
  log(`foundation: warm-up run (${rows} rows, ${adapters.join(' and ')}, both key kinds)`);
  const pragmas = new Map<AdapterName, Pragmas>();
  await oneRound(config, -1, new Map(), pragmas);
  const samples: VariantSamples = new Map();
  for (let run = 0; run < runs; run++) await oneRound(config, run, samples, pragmas);

  const base = adapters[0]!;
  const others = adapters.slice(1);
  const get = (keys: KeyKind, adapter: AdapterName) => samples.get(`${keys} ${adapter}`)!;
  const phases: PhaseResult[] = [];
  for (const key of PHASE_KEYS) {
    for (const keys of KEY_KINDS) {
      for (const adapter of adapters) {
        const versus: (PairedSamples | undefined)[] = others.map((other) => (adapter === other ? get(keys, base)[key] : undefined));
        versus.push(keys === 'v4' ? get('v7', adapter)[key] : undefined);
        phases.push({ ...PHASES[key], variant: [KEY_LABELS[keys], adapter], ...get(keys, adapter)[key], versus });
      }
    }
  }
  return {
    title: `foundation: ${rows} rows, median of ${runs} run${runs === 1 ? '' : 's'}`,
    variantColumns: ['keys', 'adapter'],
    versusColumns: [...others.map((other) => `${other} / ${base} (same keys)`), `${KEY_LABELS.v4} / ${KEY_LABELS.v7} (same adapter)`],
    phases,
    notes: [
      'ratio = median synced / median plain of the same keys on the same adapter; in brackets the lowest and highest ratio of a single run.',
      `keys: ${KEY_LABELS.v4} = 122 random bits, as \`crypto.randomUUID()\` makes them (here from a seeded generator); ${KEY_LABELS.v7} = time-ordered (RFC 9562), so rows are inserted in key order. Both key kinds of a run hold the same values, and every adapter gets the same rows.`,
      `comparison columns: this line's medians over those of the same phase ${others.length > 0 ? `on ${base} (same keys), and ` : ''}with ${KEY_LABELS.v7} keys (same adapter), plain over plain and synced over synced, from the same runs. The order of the adapters and of plain and synced alternates between runs.`,
      ...pragmaNote(adapters, pragmas),
      'table: text UUID key, text, integer, integer, real; file databases in WAL mode; plain and synced tables in separate files, each phase on fresh files.',
      "insert/update/delete: prepared statements on Ahenk's connection (db.$connection) vs a plain connection with the same pragmas, one transaction per phase; updates and deletes visit the rows in a random order.",
      'second connection: `openConnection(path)` with default pragmas into the synced table vs the same into the plain table.',
      `export: getOplogEntriesSince(db) from zero after insert+update vs \`SELECT * FROM ${PLAIN_TABLE}\` .all(); merge: merge(db2, entries) into an empty synced database vs INSERT ... ON CONFLICT DO UPDATE of the final rows into an empty plain table.`,
      'size: main database file after insert+update, written by VACUUM INTO (a vacuumed, checkpointed copy; the live files stay as they were for the delete phase).',
      `churn: insert, then ${CHURN_ROUNDS} rounds of updating qty in every row (random order); compactOplog folds the log and drops the superseded updates, leaving the insert and the last update of each row. Its time is set against the plain side's update rounds (the writes whose log it cleans up).`,
      'deferred index fold: triggers log local inserts/updates unindexed and the next merge or open indexes them (foldOplog); the extra rows charge that work to the writes (insert+update+fold vs plain insert+update) and measure the size once the index is built. Deletes are timed both before the fold (fresh files) and after it.',
    ],
  };
}

/**
 * The pragmas Ahenk's connection had that differ between the adapters: defaults of each driver's
 * SQLite build that Ahenk leaves as they are, so they are part of what the adapter choice costs.
 */
function pragmaNote(adapters: readonly AdapterName[], pragmas: ReadonlyMap<AdapterName, Pragmas>): string[] {
  const first = pragmas.get(adapters[0]!);
  if (first === undefined) return [];
  const differ = (Object.keys(first) as (keyof Pragmas)[]).filter((name) => adapters.some((a) => pragmas.get(a)![name] !== first[name]));
  if (differ.length === 0) return [];
  const values = adapters.map((a) => `${a} ${differ.map((name) => `${name}=${String(pragmas.get(a)![name])}`).join(', ')}`);
  return [`pragmas that differ between the adapters (their SQLite builds' defaults, which Ahenk does not set; plain and synced sides of one adapter share them): ${values.join('; ')}.`];
}

/** One run of every key kind on every adapter (run -1 is the warm-up: its samples are dropped). */
async function oneRound(config: FoundationConfig, run: number, samples: VariantSamples, pragmas: Map<AdapterName, Pragmas>): Promise<void> {
  const { rows, runs, dir, log } = config;
  const seed = 0x5eed + run;
  // Alternating who goes first (adapter, and plain or synced) keeps a drift of the machine
  // (thermal, page cache, neighbours) out of the ratios.
  const even = run % 2 === 0;
  const adapters = even ? config.adapters : [...config.adapters].reverse();
  for (const keys of KEY_KINDS) {
    const work = makeWorkload(rows, seed, keys);
    for (const adapter of adapters) {
      const id = `${keys} ${adapter}` as const;
      const own = samples.get(id) ?? emptySamples();
      samples.set(id, own);
      const { measured, pragmas: used } = await runPhases(dir, adapter, work, even, own);
      pragmas.set(adapter, used);
      log(`foundation: ${run < 0 ? 'warm-up' : `run ${run + 1}/${runs}`}, ${KEY_LABELS[keys]} on ${adapter}: ${measured.join(', ')}`);
    }
  }
}
