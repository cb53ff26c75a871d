/**
 * The foundation benchmark: what capture, export and merge cost against the same work on an
 * identical plain table (same columns, same pragmas, same kind of connection: both through
 * openConnection, on the driver AHENK_SQLITE names), on the same run.
 * Every figure is synced/plain; each run starts from fresh database files.
 */
import { statSync } from 'node:fs';
import { compactOplog, getOplogEntriesSince, merge, type OplogEntry } from '../src/index.ts';
import { openConnection, type SqliteConnection, type SqliteStatement } from '../src/sqlite/index.ts';
// Not public API: the bench times the deferred indexing on its own (see the writeFold phase).
import { foldOplog } from '../src/oplog/fold.ts';
import { makeRows, shuffledIndices, type BenchRow } from './data.ts';
import { discard, freshPath, openPlain, openSynced, pragmasOf } from './databases.ts';
import type { PhaseResult, SuiteResult } from './report.ts';
import { PLAIN_TABLE, statementsSql, SYNCED_TABLE } from './schema.ts';
import { timeMs, yieldToEventLoop } from './util.ts';

export interface FoundationConfig {
  rows: number;
  runs: number;
  /** Scratch directory; the caller deletes it. */
  dir: string;
  log: (line: string) => void;
}

type PhaseKey =
  | 'insert'
  | 'update'
  | 'writeFold'
  | 'deleteUnfolded'
  | 'delete'
  | 'insertOther'
  | 'export'
  | 'merge'
  | 'size'
  | 'sizeFolded'
  | 'churnSize'
  | 'compact'
  | 'churnCompacted';

/** Update rounds of the churn phases: every row's qty is set this many times after the insert. */
const CHURN_ROUNDS = 5;

const PHASES: Record<PhaseKey, Omit<PhaseResult, 'plain' | 'synced'>> = {
  insert: { phase: 'insert', unit: 'ms', goal: 2.5, reference: '14.8x' },
  update: { phase: 'update (one column)', unit: 'ms', goal: 2.5, reference: '4.4x' },
  writeFold: { phase: 'insert + update + deferred index fold', unit: 'ms', goal: 2.5, reference: '-' },
  deleteUnfolded: { phase: 'delete (before the fold)', unit: 'ms', goal: 2.5, reference: '-' },
  delete: { phase: 'delete (after the fold)', unit: 'ms', goal: 2.5, reference: '-' },
  insertOther: { phase: 'insert, second connection without Ahenk', unit: 'ms', reference: '-' },
  export: { phase: 'export all changes vs SELECT *', unit: 'ms', goal: 3, reference: '~20x' },
  merge: { phase: 'merge into empty db vs upsert', unit: 'ms', goal: 3, reference: '10.5x' },
  size: { phase: 'size after insert+update, VACUUMed (MiB)', unit: 'bytes', goal: 2, reference: '2.6x' },
  sizeFolded: { phase: 'size as above, after the fold (MiB)', unit: 'bytes', goal: 2, reference: '2.6x' },
  churnSize: { phase: `size after insert + ${CHURN_ROUNDS} updates of one column per row (MiB)`, unit: 'bytes', reference: '-' },
  compact: { phase: `compactOplog after those vs the ${CHURN_ROUNDS} plain update rounds`, unit: 'ms', reference: '-' },
  churnCompacted: { phase: 'size as above, after compactOplog (MiB)', unit: 'bytes', reference: '-' },
};

type Samples = Record<PhaseKey, { plain: number[]; synced: number[] }>;
/** Times one phase on both sides, in the run's order, and records the pair. */
type Pair = (key: PhaseKey, plain: () => number, synced: () => number) => void;

export async function runFoundation(config: FoundationConfig): Promise<SuiteResult> {
  const { rows, runs, dir, log } = config;
  // The warm-up run compiles the JS paths (export and merge are mostly JS) and fills the page
  // cache; its figures are dropped.
  log(`foundation: warm-up run (${rows} rows)`);
  await oneRun(dir, rows, -1, emptySamples(), log);
  const samples = emptySamples();
  for (let run = 0; run < runs; run++) await oneRun(dir, rows, run, samples, log);

  const phases = (Object.keys(PHASES) as PhaseKey[]).map((key) => ({ ...PHASES[key], ...samples[key] }));
  return {
    title: `foundation: ${rows} rows, median of ${runs} run${runs === 1 ? '' : 's'}`,
    phases,
    notes: [
      'ratio = median synced / median plain; in brackets the lowest and highest ratio of a single run.',
      'table: text UUIDv7 key, text, integer, integer, real; file databases in WAL mode; plain and synced tables in separate files, each phase on fresh files.',
      "insert/update/delete: prepared statements on Ahenk's connection (db.$connection) vs a plain connection with the same pragmas, one transaction per phase; updates and deletes visit the rows in a random order.",
      'second connection: `openConnection(path)` with default pragmas into the synced table vs the same into the plain table.',
      `export: getOplogEntriesSince(db) from zero after insert+update vs \`SELECT * FROM ${PLAIN_TABLE}\` .all(); merge: merge(db2, entries) into an empty synced database vs INSERT ... ON CONFLICT DO UPDATE of the final rows into an empty plain table.`,
      'size: main database file after insert+update, written by VACUUM INTO (a vacuumed, checkpointed copy; the live files stay as they were for the delete phase).',
      `churn: insert, then ${CHURN_ROUNDS} rounds of updating qty in every row (random order); compactOplog folds the log and drops the superseded updates, leaving the insert and the last update of each row. Its time is set against the plain side's update rounds (the writes whose log it cleans up).`,
      'deferred index fold: triggers log local inserts/updates unindexed and the next merge or open indexes them (foldOplog); the extra rows charge that work to the writes (insert+update+fold vs plain insert+update) and measure the size once the index is built. Deletes are timed both before the fold (fresh files) and after it.',
    ],
  };
}

function emptySamples(): Samples {
  const s = {} as Samples;
  for (const key of Object.keys(PHASES) as PhaseKey[]) s[key] = { plain: [], synced: [] };
  return s;
}

async function oneRun(dir: string, n: number, run: number, samples: Samples, log: (line: string) => void): Promise<void> {
  const seed = 0x5eed + run;
  const rows = makeRows(n, seed);
  const updateOrder = shuffledIndices(n, seed * 7 + 1);
  const deleteOrder = shuffledIndices(n, seed * 7 + 2);
  // Alternating who goes first keeps a drift of the machine (thermal, page cache) out of the ratio.
  const plainFirst = run % 2 === 0;
  const measured: string[] = [];
  const record = (key: PhaseKey, p: number, s: number) => {
    samples[key].plain.push(p);
    samples[key].synced.push(s);
    measured.push(`${key} ${(s / p).toFixed(2)}x`);
  };
  const pair: Pair = (key, plain, synced) => {
    if (plainFirst) {
      const p = plain();
      record(key, p, synced());
    } else {
      const s = synced();
      record(key, plain(), s);
    }
  };

  const syncedPath = freshPath(dir, 'synced');
  const plainPath = freshPath(dir, 'plain');
  const db = openSynced(syncedPath);
  const raw = db.$connection;
  const pragmas = pragmasOf(raw);
  const plain = openPlain(plainPath, pragmas);
  try {
    const s = prepare(raw, SYNCED_TABLE);
    const p = prepare(plain, PLAIN_TABLE);

    pair('insert', () => timeMs(() => insertAll(plain, p.insert, rows)), () => timeMs(() => insertAll(raw, s.insert, rows)));
    await yieldToEventLoop();

    pair('update', () => timeMs(() => updateAll(plain, p.update, rows, updateOrder)), () => timeMs(() => updateAll(raw, s.update, rows, updateOrder)));
    expectSameContent(raw, SYNCED_TABLE, plain, PLAIN_TABLE, 'after update');
    await yieldToEventLoop();

    let entries: OplogEntry[] = [];
    pair(
      'export',
      () => timeMs(() => void p.selectAll.all()),
      () => timeMs(() => void (entries = getOplogEntriesSince(db).entries)),
    );
    if (entries.length < n) throw new Error(`export returned ${entries.length} entries for ${n} rows`);
    await yieldToEventLoop();

    const finalRows = p.selectAll.values() as BenchRow[];
    const db2Path = freshPath(dir, 'merged');
    const plain2Path = freshPath(dir, 'upserted');
    const db2 = openSynced(db2Path);
    const plain2 = openPlain(plain2Path, pragmas);
    try {
      const upsert = plain2.prepare(statementsSql(PLAIN_TABLE).upsert);
      pair(
        'merge',
        () => timeMs(() => insertAll(plain2, upsert, finalRows)),
        () => timeMs(() => void merge(db2, entries)),
      );
      expectSameContent(db2.$connection, SYNCED_TABLE, plain2, PLAIN_TABLE, 'after merge');
      expectSameContent(db2.$connection, SYNCED_TABLE, plain, PLAIN_TABLE, 'merged vs source');
    } finally {
      discard([db2Path, plain2Path], db2.$connection, plain2);
    }
    entries = [];
    await yieldToEventLoop();

    pair('size', () => vacuumedSize(plain, `${plainPath}.vacuumed`), () => vacuumedSize(raw, `${syncedPath}.vacuumed`));
    await yieldToEventLoop();

    // Local inserts and updates are logged unindexed; the next merge (or open) indexes them in
    // bulk. That work is charged to the writes here, so deferring it does not hide it.
    const foldMs = timeMs(() => raw.transaction(() => void foldOplog(raw)));
    const [insertIndex, updateIndex] = [samples.insert.plain.length - 1, samples.update.plain.length - 1];
    record(
      'writeFold',
      samples.insert.plain[insertIndex]! + samples.update.plain[updateIndex]!,
      samples.insert.synced[insertIndex]! + samples.update.synced[updateIndex]! + foldMs,
    );
    pair('sizeFolded', () => vacuumedSize(plain, `${plainPath}.vacuumed`), () => vacuumedSize(raw, `${syncedPath}.vacuumed`));
    await yieldToEventLoop();

    pair('delete', () => timeMs(() => deleteAll(plain, p.delete, rows, deleteOrder)), () => timeMs(() => deleteAll(raw, s.delete, rows, deleteOrder)));
    expectSameContent(raw, SYNCED_TABLE, plain, PLAIN_TABLE, 'after delete');
  } finally {
    discard([syncedPath, plainPath], raw, plain);
  }
  await yieldToEventLoop();

  deleteBeforeFold(dir, rows, updateOrder, deleteOrder, pair);
  await yieldToEventLoop();
  secondConnectionInsert(dir, rows, pair);
  await yieldToEventLoop();
  churnAndCompact(dir, rows, seed, record);

  log(`foundation: ${run < 0 ? 'warm-up' : `run ${run + 1}`}: ${measured.join(', ')}`);
}

/** Deletes while the local writes are still unindexed (no merge or open since they were made). */
function deleteBeforeFold(dir: string, rows: readonly BenchRow[], updateOrder: Uint32Array, deleteOrder: Uint32Array, pair: Pair): void {
  const syncedPath = freshPath(dir, 'synced-unfolded');
  const plainPath = freshPath(dir, 'plain-unfolded');
  const raw = openSynced(syncedPath).$connection;
  const plain = openPlain(plainPath, pragmasOf(raw));
  try {
    const s = prepare(raw, SYNCED_TABLE);
    const p = prepare(plain, PLAIN_TABLE);
    for (const [conn, stmts] of [[raw, s], [plain, p]] as const) {
      insertAll(conn, stmts.insert, rows);
      updateAll(conn, stmts.update, rows, updateOrder);
    }
    pair('deleteUnfolded', () => timeMs(() => deleteAll(plain, p.delete, rows, deleteOrder)), () => timeMs(() => deleteAll(raw, s.delete, rows, deleteOrder)));
    expectSameContent(raw, SYNCED_TABLE, plain, PLAIN_TABLE, 'after delete before the fold');
  } finally {
    discard([syncedPath, plainPath], raw, plain);
  }
}

/** Many updates of the same cells, then compaction: how far the log grows and how far it shrinks back. */
function churnAndCompact(dir: string, rows: readonly BenchRow[], seed: number, record: (key: PhaseKey, plain: number, synced: number) => void): void {
  const syncedPath = freshPath(dir, 'synced-churn');
  const plainPath = freshPath(dir, 'plain-churn');
  const db = openSynced(syncedPath);
  const raw = db.$connection;
  const plain = openPlain(plainPath, pragmasOf(raw));
  try {
    const s = prepare(raw, SYNCED_TABLE);
    const p = prepare(plain, PLAIN_TABLE);
    insertAll(raw, s.insert, rows);
    insertAll(plain, p.insert, rows);
    let plainUpdates = 0;
    for (let round = 0; round < CHURN_ROUNDS; round++) {
      const order = shuffledIndices(rows.length, seed * 11 + round);
      updateAll(raw, s.update, rows, order, round + 1);
      plainUpdates += timeMs(() => updateAll(plain, p.update, rows, order, round + 1));
    }
    expectSameContent(raw, SYNCED_TABLE, plain, PLAIN_TABLE, 'after churn');
    const logBefore = Number(raw.prepare('SELECT count(*) FROM ahenk_oplog').value());
    record('churnSize', vacuumedSize(plain, `${plainPath}.vacuumed`), vacuumedSize(raw, `${syncedPath}.vacuumed`));
    let removed = 0;
    record('compact', plainUpdates, timeMs(() => void (removed = compactOplog(db).removed)));
    const expected = logBefore - rows.length * (CHURN_ROUNDS - 1);
    if (logBefore - removed !== expected) throw new Error(`compaction left ${logBefore - removed} log rows, expected ${expected}`);
    record('churnCompacted', vacuumedSize(plain, `${plainPath}.vacuumed`), vacuumedSize(raw, `${syncedPath}.vacuumed`));
    const entries = getOplogEntriesSince(db).entries;
    const groups = entries.reduce((n, e) => n + e.groups.length, 0);
    if (groups !== rows.length * 2) throw new Error(`export after compaction: ${groups} clock groups for ${rows.length} rows`);
  } finally {
    discard([syncedPath, plainPath], raw, plain);
  }
}

/** Inserts through a connection that never loaded Ahenk: the triggers still capture every row. */
function secondConnectionInsert(dir: string, rows: readonly BenchRow[], pair: Pair): void {
  const syncedPath = freshPath(dir, 'synced-other');
  const plainPath = freshPath(dir, 'plain-other');
  const db = openSynced(syncedPath);
  const plainOwner = openPlain(plainPath, pragmasOf(db.$connection));
  const syncedOther = openConnection(syncedPath);
  const plainOther = openConnection(plainPath);
  try {
    const s = prepare(syncedOther, SYNCED_TABLE);
    const p = prepare(plainOther, PLAIN_TABLE);
    pair('insertOther', () => timeMs(() => insertAll(plainOther, p.insert, rows)), () => timeMs(() => insertAll(syncedOther, s.insert, rows)));
    const logged = Number(db.$connection.prepare('SELECT count(*) FROM ahenk_oplog').value());
    if (logged !== rows.length) throw new Error(`second connection: ${logged} oplog rows for ${rows.length} inserts`);
  } finally {
    discard([syncedPath, plainPath], syncedOther, plainOther, db.$connection, plainOwner);
  }
}

function prepare(conn: SqliteConnection, table: string) {
  const sql = statementsSql(table);
  return {
    insert: conn.prepare(sql.insert),
    update: conn.prepare(sql.update),
    delete: conn.prepare(sql.delete),
    // Integers as numbers: the rows go back into the upsert as the BenchRows they were made from.
    selectAll: conn.prepare(sql.selectAll, { integers: 'number' }),
  };
}

function insertAll(conn: SqliteConnection, stmt: SqliteStatement, rows: readonly BenchRow[]): void {
  conn.transaction(() => {
    for (const r of rows) stmt.run(r[0], r[1], r[2], r[3], r[4]);
  });
}

function updateAll(conn: SqliteConnection, stmt: SqliteStatement, rows: readonly BenchRow[], order: Uint32Array, step = 1): void {
  conn.transaction(() => {
    for (const i of order) stmt.run(rows[i]![2] + step, rows[i]![0]);
  });
}

function deleteAll(conn: SqliteConnection, stmt: SqliteStatement, rows: readonly BenchRow[], order: Uint32Array): void {
  conn.transaction(() => {
    for (const i of order) stmt.run(rows[i]![0]);
  });
}

function vacuumedSize(conn: SqliteConnection, target: string): number {
  conn.prepare('VACUUM INTO ?').run(target);
  const size = statSync(target).size;
  discard([target]);
  return size;
}

/** Both tables must hold the same rows, or the figures compare different work. */
function expectSameContent(a: SqliteConnection, tableA: string, b: SqliteConnection, tableB: string, when: string): void {
  const digest = (conn: SqliteConnection, table: string) =>
    JSON.stringify(
      conn
        .prepare(`SELECT count(*), total(qty), total(rank), total(price), total(length(name)), min(id), max(id), typeof(max(qty)), typeof(max(price)) FROM "${table}"`, { integers: 'number' })
        .values()[0],
    );
  const da = digest(a, tableA);
  const db = digest(b, tableB);
  if (da !== db) throw new Error(`${when}: ${tableA} ${da} differs from ${tableB} ${db}`);
}
