/**
 * Is the log bounded? `rows` rows, then `updates` updates of a random row each, setting a random
 * non-empty set of its four value columns, on a synced table and on a plain one in its own file
 * (the data alone). The synced side compacts as a sync node does: compactOplog in slices of
 * COMPACT_SLICE_ENTRIES until done, here every `compactEvery` updates (a node runs it every
 * COMPACT_INTERVAL_MS, so `compactEvery` stands for the writes of one interval). Reported: log
 * rows before and after each compaction, and each file's size, its tables' and indexes' bytes
 * (dbstat, where the SQLite build has it), before and after VACUUM.
 */
import { COMPACT_SLICE_ENTRIES } from '../src/sync/node/constants.ts';
import { compactOplog } from '../src/oplog/compact.ts';
import type { AdapterName, SqliteConnection } from '../src/sqlite/index.ts';
import { seededRandom, uuidv4Generator } from './data.ts';
import { discard, freshPath, openPlain, openSynced, pragmasOf } from './databases.ts';
import { PLAIN_TABLE, SYNCED_TABLE } from './schema.ts';

export interface LogBoundOptions {
  rows: number;
  updates: number;
  compactEvery: number;
  adapter: AdapterName;
  dir: string;
  seed: number;
  log?: (line: string) => void;
}

/** Bytes of one database file, whole and by object (objects empty without dbstat). */
export interface FileSize {
  fileBytes: number;
  freeBytes: number;
  tableBytes: number;
  indexBytes: number;
  /** Bytes by table or index name. */
  objects: Record<string, number>;
}

export interface LogBoundResult {
  rows: number;
  updates: number;
  compactions: number;
  /** Log rows just before and just after each compaction: the peak and the floor. */
  logRowsBefore: number[];
  logRowsAfter: number[];
  /** The synced file's pages (bytes, free pages included) after each compaction: reused, not grown. */
  fileBytesAfter: number[];
  /** Log rows at the end, after the last compaction. */
  logRows: number;
  synced: { raw: FileSize; vacuumed: FileSize };
  plain: { raw: FileSize; vacuumed: FileSize };
  updateMs: number;
  compactMs: number;
}

const TX = 1000;
const VALUE_COLUMNS = ['name', 'qty', 'rank', 'price'] as const;

export function runLogBound(options: LogBoundOptions): LogBoundResult {
  const { rows, updates, compactEvery, adapter } = options;
  const syncedPath = freshPath(options.dir, 'log-synced');
  const plainPath = freshPath(options.dir, 'log-plain');
  const db = openSynced(syncedPath, adapter);
  const synced = db.$connection;
  const plain = openPlain(plainPath, pragmasOf(synced), adapter);
  try {
    const random = seededRandom(options.seed);
    const nextKey = uuidv4Generator(random);
    const keys = Array.from({ length: rows }, () => nextKey());
    const value = (column: (typeof VALUE_COLUMNS)[number]) => (column === 'name' ? `n${Math.floor(random() * 1e9)}` : column === 'price' ? random() * 1000 : Math.floor(random() * 1e6));
    for (const [raw, table] of [[synced, SYNCED_TABLE], [plain, PLAIN_TABLE]] as const) {
      const insert = raw.prepare(`INSERT INTO "${table}" (id, name, qty, rank, price) VALUES (?, ?, ?, ?, ?)`);
      raw.transaction(() => {
        for (const key of keys) insert.run(key, 'start', 0, 0, 0);
      });
    }
    // One statement per column set (15 of them), on each side.
    const statements = new Map<number, [ReturnType<SqliteConnection['prepare']>, ReturnType<SqliteConnection['prepare']>]>();
    const statementFor = (mask: number) => {
      let pair = statements.get(mask);
      if (!pair) {
        const set = VALUE_COLUMNS.filter((_, i) => mask & (1 << i)).map((c) => `"${c}" = ?`).join(', ');
        pair = [synced.prepare(`UPDATE "${SYNCED_TABLE}" SET ${set} WHERE id = ?`), plain.prepare(`UPDATE "${PLAIN_TABLE}" SET ${set} WHERE id = ?`)];
        statements.set(mask, pair);
      }
      return pair;
    };
    const logRowsBefore: number[] = [];
    const logRowsAfter: number[] = [];
    const fileBytesAfter: number[] = [];
    let updateMs = 0;
    let compactMs = 0;
    const logRows = () => Number(synced.prepare('SELECT count(*) FROM ahenk_oplog').value());
    const compact = () => {
      logRowsBefore.push(logRows());
      const started = performance.now();
      while (!compactOplog(synced, { maxEntries: COMPACT_SLICE_ENTRIES }).done);
      compactMs += performance.now() - started;
      logRowsAfter.push(logRows());
      fileBytesAfter.push(Number(synced.pragma('page_count')) * Number(synced.pragma('page_size')));
      options.log?.(`log bound (${adapter}): ${logRowsBefore.length * compactEvery} updates, log ${logRowsBefore.at(-1)} -> ${logRowsAfter.at(-1)} rows`);
    };
    for (let done = 0; done < updates; ) {
      const n = Math.min(TX, updates - done, compactEvery - (done % compactEvery));
      const work = Array.from({ length: n }, () => {
        const key = keys[Math.floor(random() * rows)]!;
        const mask = 1 + Math.floor(random() * 15);
        const values = VALUE_COLUMNS.filter((_, i) => mask & (1 << i)).map(value);
        return { key, mask, values };
      });
      const started = performance.now();
      for (const [side, raw] of [0, 1].map((i) => [i, i === 0 ? synced : plain] as const)) {
        raw.transaction(() => {
          for (const { key, mask, values } of work) statementFor(mask)[side]!.run(...values, key);
        });
      }
      updateMs += performance.now() - started;
      done += n;
      if (done % compactEvery === 0) compact();
    }
    if (updates % compactEvery !== 0) compact();
    const syncedRaw = sizeOf(synced);
    const plainRaw = sizeOf(plain);
    synced.exec('VACUUM');
    plain.exec('VACUUM');
    return {
      rows,
      updates,
      compactions: logRowsBefore.length,
      logRowsBefore,
      logRowsAfter,
      fileBytesAfter,
      logRows: logRows(),
      synced: { raw: syncedRaw, vacuumed: sizeOf(synced) },
      plain: { raw: plainRaw, vacuumed: sizeOf(plain) },
      updateMs,
      compactMs,
    };
  } finally {
    discard([syncedPath, plainPath], synced, plain);
  }
}

/** The file as it would be on disk after a checkpoint, and its objects' pages. */
export function sizeOf(raw: SqliteConnection): FileSize {
  raw.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  const pageSize = Number(raw.pragma('page_size'));
  const fileBytes = Number(raw.pragma('page_count')) * pageSize;
  const freeBytes = Number(raw.pragma('freelist_count')) * pageSize;
  const objects: Record<string, number> = {};
  let tableBytes = 0;
  let indexBytes = 0;
  try {
    const kinds = new Map((raw.prepare("SELECT name, type FROM sqlite_schema WHERE type IN ('table', 'index')").all() as { name: string; type: string }[]).map((o) => [o.name, o.type]));
    for (const [name, bytes] of raw.prepare('SELECT name, sum(pgsize) FROM dbstat GROUP BY name').values() as [string, bigint | number][]) {
      objects[name] = Number(bytes);
      // Automatic indexes (sqlite_autoindex_*) have no type row but are indexes.
      if (kinds.get(name) === 'index' || name.startsWith('sqlite_autoindex_')) indexBytes += Number(bytes);
      else tableBytes += Number(bytes);
    }
  } catch {
    // No dbstat in this SQLite build: only the file figures.
  }
  return { fileBytes, freeBytes, tableBytes, indexBytes, objects };
}
