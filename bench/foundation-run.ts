/**
 * One run of the foundation phases on one adapter and one workload: each phase on fresh files,
 * timed on a synced table and on an identical plain one (same columns, same pragmas, same adapter).
 * foundation.ts repeats this over the runs, key kinds and adapters and turns it into the table.
 */
import { statSync } from 'node:fs';
import { compactOplog, getOplogEntriesSince, merge, type OplogEntry } from '../src/index.ts';
import { openConnection, type AdapterName, type SqliteConnection, type SqliteStatement } from '../src/sqlite/index.ts';
// Not public API: the bench times the deferred indexing on its own (see the writeFold phase).
import { foldOplog } from '../src/oplog/fold.ts';
import { makeRows, shuffledIndices, type BenchRow, type KeyKind } from './data.ts';
import { discard, freshPath, openPlain, openSynced, pragmasOf, type Pragmas } from './databases.ts';
import type { PairedSamples } from './report.ts';
import { PLAIN_TABLE, statementsSql, SYNCED_TABLE } from './schema.ts';
import { timeMs, yieldToEventLoop } from './util.ts';

/** Every figure of a run, in the order of the table. */
export const PHASE_KEYS = [
  'insert',
  'update',
  'writeFold',
  'deleteUnfolded',
  'delete',
  'insertOther',
  'export',
  'exportFolded',
  'merge',
  'size',
  'sizeFolded',
  'churnSize',
  'compact',
  'churnCompacted',
] as const;
export type PhaseKey = (typeof PHASE_KEYS)[number];

/** Update rounds of the churn phases: every row's qty is set this many times after the insert. */
export const CHURN_ROUNDS = 5;

export type Samples = Record<PhaseKey, PairedSamples>;

export function emptySamples(): Samples {
  return Object.fromEntries(PHASE_KEYS.map((key) => [key, { plain: [], synced: [] }])) as unknown as Samples;
}

/** The rows of one run and the orders its updates and deletes visit them in. */
export interface Workload {
  seed: number;
  rows: BenchRow[];
  updateOrder: Uint32Array;
  deleteOrder: Uint32Array;
}

export function makeWorkload(n: number, seed: number, keys: KeyKind): Workload {
  return { seed, rows: makeRows(n, seed, keys), updateOrder: shuffledIndices(n, seed * 7 + 1), deleteOrder: shuffledIndices(n, seed * 7 + 2) };
}

/** Records one phase's pair of figures. */
type RecordPair = (key: PhaseKey, plain: number, synced: number) => void;
/** Times one phase on both sides, in the run's order, and records the pair. */
type Pair = (key: PhaseKey, plain: () => number, synced: () => number) => void;

/**
 * Every phase once on `adapter`, appending one sample per phase to `samples`; `plainFirst` says
 * which side goes first in each pair. Returns each phase's synced/plain ratio (for the progress
 * log) and the pragmas both sides ran with.
 */
export async function runPhases(dir: string, adapter: AdapterName, work: Workload, plainFirst: boolean, samples: Samples): Promise<{ measured: string[]; pragmas: Pragmas }> {
  const { rows, updateOrder, deleteOrder } = work;
  const n = rows.length;
  const measured: string[] = [];
  const record: RecordPair = (key, p, s) => {
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
  const db = openSynced(syncedPath, adapter);
  const raw = db.$connection;
  const pragmas = pragmasOf(raw);
  const plain = openPlain(plainPath, pragmas, adapter);
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
    const db2 = openSynced(db2Path, adapter);
    const plain2 = openPlain(plain2Path, pragmas, adapter);
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

    // What a device that syncs has: its log folded (merge, compaction and opening fold it).
    pair(
      'exportFolded',
      () => timeMs(() => void p.selectAll.all()),
      () => timeMs(() => void (entries = getOplogEntriesSince(db).entries)),
    );
    if (entries.length < n) throw new Error(`export after the fold returned ${entries.length} entries for ${n} rows`);
    entries = [];
    await yieldToEventLoop();

    pair('delete', () => timeMs(() => deleteAll(plain, p.delete, rows, deleteOrder)), () => timeMs(() => deleteAll(raw, s.delete, rows, deleteOrder)));
    expectSameContent(raw, SYNCED_TABLE, plain, PLAIN_TABLE, 'after delete');
  } finally {
    discard([syncedPath, plainPath], raw, plain);
  }
  await yieldToEventLoop();

  deleteBeforeFold(dir, adapter, work, pair);
  await yieldToEventLoop();
  secondConnectionInsert(dir, adapter, rows, pair);
  await yieldToEventLoop();
  churnAndCompact(dir, adapter, work, record);
  return { measured, pragmas };
}

/** Deletes while the local writes are still unindexed (no merge or open since they were made). */
function deleteBeforeFold(dir: string, adapter: AdapterName, work: Workload, pair: Pair): void {
  const { rows, updateOrder, deleteOrder } = work;
  const syncedPath = freshPath(dir, 'synced-unfolded');
  const plainPath = freshPath(dir, 'plain-unfolded');
  const raw = openSynced(syncedPath, adapter).$connection;
  const plain = openPlain(plainPath, pragmasOf(raw), adapter);
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
function churnAndCompact(dir: string, adapter: AdapterName, work: Workload, record: RecordPair): void {
  const { rows, seed } = work;
  const syncedPath = freshPath(dir, 'synced-churn');
  const plainPath = freshPath(dir, 'plain-churn');
  const db = openSynced(syncedPath, adapter);
  const raw = db.$connection;
  const plain = openPlain(plainPath, pragmasOf(raw), adapter);
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
    // No peer: the fold joins each row's insert and updates into one log row (the superseded
    // updates go), so one log row per row stays.
    const expected = logBefore - rows.length * CHURN_ROUNDS;
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
function secondConnectionInsert(dir: string, adapter: AdapterName, rows: readonly BenchRow[], pair: Pair): void {
  const syncedPath = freshPath(dir, 'synced-other');
  const plainPath = freshPath(dir, 'plain-other');
  const db = openSynced(syncedPath, adapter);
  const plainOwner = openPlain(plainPath, pragmasOf(db.$connection), adapter);
  const syncedOther = openConnection(syncedPath, { adapter });
  const plainOther = openConnection(plainPath, { adapter });
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
