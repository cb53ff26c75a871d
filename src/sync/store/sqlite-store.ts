/**
 * The sync session's store over an Ahenk database: the log's positions and windows (oplog), the
 * per-peer cursor (ahenk_cursors), the batch apply that merges batches and advances the cursor in
 * one transaction, and the wait for new writes of any process (the oplog watcher).
 */
import { InvalidEntryError } from '../../errors.ts';
import { getOplogEntriesSince } from '../../database/exchange.ts';
import { getSchemaVersion } from '../../database/initialize.ts';
import { FreshRows } from '../../merge/fresh-rows.ts';
import { mergeDecodedEntries, mergeEntries, type MergeOptions, type MergeResult } from '../../merge/merge.ts';
import { QuarantineFullError } from '../../merge/quarantine.ts';
import { refreshCaptureIfStale } from '../../capture/install.ts';
import { parseCursor } from '../../oplog/cursor.ts';
import { beginSnapshot, exportSnapshotWindow, type SnapshotPosition } from '../../oplog/snapshot.ts';
import type { OplogEntry } from '../../oplog/entry.ts';
import { ConnectionSlot, type SqliteConnection, type SqliteStatement } from '../../sqlite/index.ts';
import { isDecodedEntries } from '../protocol/entries.ts';
import { ProtocolError } from '../protocol/errors.ts';
import type { AppliedBatch, AppliedGroup, ExportWindow, ReceivedBatch, SnapshotWindow, SyncStore } from '../session/store.ts';
import { OplogWatcher } from './watcher.ts';

/** Writes of a batch held back because their stamps were too far ahead of this device's clock. */
export interface BatchDrift {
  /** The device that stamped the furthest-ahead held write. */
  device: string;
  /** That stamp, and how far it was ahead of this device's wall clock (ms). */
  stamp: string;
  aheadMs: number;
  /** Writes (entry groups) of the batch held for their stamps. */
  held: number;
}

export interface SqliteStoreOptions {
  /** The log watcher's poll besides the WAL file's events. */
  pollIntervalMs?: number;
  /** Wall clock for merge's drift check. @default Date.now */
  now?: () => number;
  /** Merge's drift allowance. @default DEFAULT_MAX_DRIFT_MS */
  maxDriftMs?: number;
  /** Called once a group that held writes for their stamps has committed. */
  onClockDrift?(drift: BatchDrift): void;
}

/** The page cache a group apply gets at least (KiB): at a million rows with random keys it saved about 30% of the apply's CPU over 16 MB, and 32 MB about as much. */
const GROUP_CACHE_KIB = 64 * 1024;

/**
 * WAL pages a group apply lets the log grow to before a commit copies them into the database file
 * (SQLite's default is 1000): at 100k rows with random keys, a checkpoint at about every group
 * commit wrote 150 MB where this wrote 95 MB, and the apply took about 0.77x the time.
 */
const GROUP_CHECKPOINT_PAGES = 10_000;

/**
 * Consecutive batches of a group merge in one call up to this many entries: merge writes a call's
 * rows in key order (merge/row-groups.ts), so with keys in random order (UUIDv4) the rows of eight
 * batches of 1000 land in one sweep over the table instead of eight. Probe, 100,000 rows into an
 * empty database in groups of eight batches: 0.95-0.99 s merged batch by batch, 0.81-0.84 s merged
 * together.
 */
const MERGE_RUN_ENTRIES = 8192;

/** The batches from `start` that merge in one call: at least one, then while the run stays within MERGE_RUN_ENTRIES. */
function mergeRun(batches: readonly ReceivedBatch[], start: number): readonly ReceivedBatch[] {
  let end = start + 1;
  let entries = batches[start]!.entries.length;
  while (end < batches.length && entries + batches[end]!.entries.length <= MERGE_RUN_ENTRIES) entries += batches[end++]!.entries.length;
  return batches.slice(start, end);
}

/** The entries of a run, in order. A plain loop: flatMap would drop an array's holes, which merge must refuse. */
function joined(run: readonly ReceivedBatch[]): OplogEntry[] {
  const entries: OplogEntry[] = [];
  for (const batch of run) for (let i = 0; i < batch.entries.length; i++) entries.push(batch.entries[i]!);
  return entries;
}

/** A merge failure that refuses the batch (the entry's fault, or a full quarantine) rather than stop the session. */
function isRefusal(error: unknown): boolean {
  return error instanceof InvalidEntryError || error instanceof QuarantineFullError;
}

/**
 * Peers a snapshot has begun for on this connection (while it is open: one record per paired
 * device at most). A snapshot that is cut starts over next time, which a connection that is always
 * cut at the same size (a relay's data limit on each circuit) would never get through; so a peer
 * gets one snapshot, and after a cut the log in windows, which resume where they stopped.
 */
const snapshotsBegun = new ConnectionSlot<Set<string>>('peers a snapshot has begun for');

export class SqliteSyncStore implements SyncStore {
  private readonly watcher: OplogWatcher;
  private readonly maxSeqStmt: SqliteStatement;
  private readonly loadCursorStmt: SqliteStatement;
  private readonly saveCursorStmt: SqliteStatement;
  private readonly countStmt: SqliteStatement;
  private readonly countAfterStmt: SqliteStatement;
  private readonly localRowsStmt: SqliteStatement;
  private readonly savePositionStmt: SqliteStatement;

  /** Only WAL keeps a database consistent with synchronous = NORMAL (see relaxedDurability). */
  private readonly wal: boolean;

  private readonly mergeOptions: MergeOptions;
  private readonly onClockDrift: ((drift: BatchDrift) => void) | undefined;
  /** The furthest-ahead held write of the group being applied. */
  private drift: BatchDrift | undefined;
  /**
   * Rows merged by the groups applied since a table's log was empty, and the log's max(seq) when
   * the last of those groups committed: while it is still the log's max(seq) at the start of the
   * next group, nothing else wrote the log in between (every write to it takes a higher seq), and
   * the rows the groups did not merge have no history to look up.
   */
  private fresh: { rows: FreshRows; seq: bigint } | undefined;

  constructor(
    readonly raw: SqliteConnection,
    options: SqliteStoreOptions = {},
  ) {
    this.watcher = OplogWatcher.of(raw, options.pollIntervalMs);
    this.mergeOptions = { ...(options.now ? { now: options.now } : {}), ...(options.maxDriftMs === undefined ? {} : { maxDriftMs: options.maxDriftMs }) };
    this.onClockDrift = options.onClockDrift;
    this.maxSeqStmt = raw.prepare('SELECT max(seq) FROM ahenk_oplog');
    this.loadCursorStmt = raw.prepare('SELECT received FROM ahenk_cursors WHERE peer_id = ?');
    this.saveCursorStmt = raw.prepare('INSERT INTO ahenk_cursors (peer_id, received) VALUES (?, ?) ON CONFLICT (peer_id) DO UPDATE SET received = excluded.received');
    this.countStmt = raw.prepare('SELECT count(*) FROM (SELECT 1 FROM ahenk_oplog WHERE seq > ? AND seq <= ? LIMIT ?)', { integers: 'number' });
    this.countAfterStmt = raw.prepare('SELECT count(*) FROM ahenk_oplog WHERE seq > ?', { integers: 'number' });
    this.localRowsStmt = raw.prepare('SELECT count(*) FROM ahenk_oplog WHERE seq > ? AND seq <= ? AND hlc IS NULL', { integers: 'number' });
    this.savePositionStmt = raw.prepare('INSERT INTO ahenk_cursors (peer_id, acked) VALUES (?, ?) ON CONFLICT (peer_id) DO UPDATE SET acked = excluded.acked');
    this.wal = String(raw.pragma('journal_mode')).toLowerCase() === 'wal';
  }

  private maxSeq(): bigint {
    return (this.maxSeqStmt.value() as bigint | null) ?? 0n;
  }

  /** Log rows in (from, to], counting at most `cap` (the count is O(result)). */
  rowsBetween(from: bigint, to: bigint, cap: number): number {
    if (to <= from) return 0;
    return this.countStmt.value(from, to, cap) as number;
  }

  rowsAfter(from: bigint): number {
    return this.countAfterStmt.value(from) as number;
  }

  /** The cursor into `peerId`'s log that this database has applied; '' when none. */
  loadCursor(peerId: string): string {
    return (this.loadCursorStmt.value(peerId) as string | undefined) ?? '';
  }

  schemaVersion(): number {
    return getSchemaVersion(this.raw);
  }

  exportWindow(from: bigint, limit: number): ExportWindow {
    const window = this.raw.withStorageErrors('reading the log for a peer', () => getOplogEntriesSince(this.raw, from.toString(), { limit }));
    return { entries: window.entries, next: parseCursor(window.cursor) };
  }

  beginSnapshot(peerId: string): bigint | undefined {
    const begun = this.raw.slot(snapshotsBegun, () => new Set<string>());
    if (begun.has(peerId)) return undefined;
    const position = this.raw.withStorageErrors('starting a snapshot for a peer', () => {
      refreshCaptureIfStale(this.raw);
      return beginSnapshot(this.raw);
    });
    // Marked once begun: a fold that failed (the write lock busy) leaves the next session a snapshot.
    begun.add(peerId);
    return position;
  }

  snapshotWindow(at: unknown, limit: number): SnapshotWindow {
    // `at` is a window's own `next`, handed back by the session unchanged.
    const window = this.raw.withStorageErrors('reading a snapshot for a peer', () => {
      refreshCaptureIfStale(this.raw);
      return exportSnapshotWindow(this.raw, at as SnapshotPosition | undefined, limit);
    });
    return { entries: window.entries, next: window.next };
  }

  waitBeyond(after: bigint, signal: AbortSignal): Promise<bigint> {
    return this.watcher.waitBeyond(after, signal);
  }

  poke(): void {
    this.watcher.poke();
  }

  savePeerPosition(peerId: string, position: bigint): void {
    this.raw.withStorageErrors(`saving the position of peer ${peerId}`, () => this.savePositionStmt.run(peerId, position));
  }

  /**
   * Merges a batch and stores the peer's cursor in one write transaction (merge's own transaction
   * nests as a savepoint): after a cut, the cursor says exactly what is applied.
   */
  applyBatch(peerId: string, entries: readonly OplogEntry[], cursor: string): AppliedBatch {
    const { applied, refused } = this.applyBatches(peerId, [{ entries, cursor }], Number.POSITIVE_INFINITY);
    if (refused !== undefined) throw refused;
    return applied[0]!;
  }

  /**
   * Merges batches in order in one write transaction, each in a savepoint of its own, and stores
   * the cursor of the last one applied in the same transaction: a cut or a crash takes the group
   * back together with its cursor. A batch merge refuses is rolled back alone and ends the group.
   */
  applyBatches(peerId: string, batches: readonly ReceivedBatch[], budgetMs: number): AppliedGroup {
    const started = performance.now();
    const restoreDurability = this.relaxedDurability();
    const restoreCache = this.largerCache();
    const restoreCheckpoints = this.laterCheckpoints();
    this.drift = undefined;
    let fresh: FreshRows | undefined;
    let freshSeq = 0n;
    try {
      // Inside a caller's transaction, what this group writes may still be rolled back with it.
      const outer = this.raw.inTransaction;
      const group = this.raw.transaction((): AppliedGroup => {
        fresh = outer ? undefined : this.freshRows();
        try {
          return this.applyGroup(peerId, batches, budgetMs, started, fresh);
        } finally {
          freshSeq = this.maxSeq();
        }
      });
      if (fresh !== undefined) this.fresh = { rows: fresh, seq: freshSeq };
      if (this.drift !== undefined && group.applied.length > 0) this.onClockDrift?.(this.drift);
      return group;
    } catch (error) {
      this.fresh = undefined;
      // A full disk or read-only media: the group and its cursor rolled back together.
      throw this.raw.storageError(error, `applying sync batches from ${peerId}`) ?? error;
    } finally {
      restoreCheckpoints();
      restoreCache();
      restoreDurability();
    }
  }

  /** The rows kept since the last group, while nothing else wrote the log since it committed; else a new start. */
  private freshRows(): FreshRows {
    const kept = this.fresh;
    this.fresh = undefined;
    return kept !== undefined && kept.seq === this.maxSeq() ? kept.rows : new FreshRows();
  }

  private applyGroup(peerId: string, batches: readonly ReceivedBatch[], budgetMs: number, started: number, fresh: FreshRows | undefined): AppliedGroup {
    const applied: AppliedBatch[] = [];
    let cursor = '';
    const refuse = (error: unknown): AppliedGroup => {
      if (cursor !== '') this.saveCursorStmt.run(peerId, cursor);
      // A full quarantine is this side's condition, not the entry's fault: the peer sends the
      // batch again in a later session, from the cursor saved here.
      const code = error instanceof QuarantineFullError ? 'PROTOCOL_INTERNAL' : 'PROTOCOL_ENTRY_REJECTED';
      return { applied, refused: new ProtocolError(code, `batch refused, nothing applied: ${(error as Error).message}`, { cause: error }) };
    };
    for (let start = 0; start < batches.length; ) {
      if (applied.length > 0 && performance.now() - started >= budgetMs) break;
      const run = mergeRun(batches, start);
      try {
        applied.push(...this.raw.transaction(() => this.mergeBatches(run, fresh)));
        for (const batch of run) if (batch.cursor !== '') cursor = batch.cursor;
      } catch (error) {
        if (!isRefusal(error)) throw error;
        // One batch of the run is refused: merged one by one, those before it are applied.
        for (const batch of run) {
          try {
            applied.push(...this.raw.transaction(() => this.mergeBatches([batch], fresh)));
          } catch (single) {
            if (!isRefusal(single)) throw single;
            return refuse(single);
          }
          if (batch.cursor !== '') cursor = batch.cursor;
        }
      }
      start += run.length;
    }
    if (cursor !== '') this.saveCursorStmt.run(peerId, cursor);
    return { applied };
  }

  /**
   * Merges consecutive batches in one call, with one result per batch: the first carries the log
   * rows the call appended, each the entries held back of its own.
   */
  private mergeBatches(run: readonly ReceivedBatch[], fresh?: FreshRows): AppliedBatch[] {
    const entries = run.length === 1 ? run[0]!.entries : joined(run);
    const before = this.maxSeq();
    // Entries straight from the wire decoder were checked as they were read; anything else (a
    // caller's own SyncStore use) is validated by merge.
    const decoded = run.every((batch) => isDecodedEntries(batch.entries));
    const result = entries.length === 0 ? undefined : (decoded ? mergeDecodedEntries : mergeEntries)(this.raw, entries, this.mergeOptions, fresh);
    if (result !== undefined && result.errors.length > 0) this.noteDrift(entries, result);
    const after = this.maxSeq();
    const onlyMerged = after === before || (this.localRowsStmt.value(before, after) as number) === 0;
    const held = result?.quarantined ?? [];
    const out: AppliedBatch[] = [];
    let offset = 0;
    for (const [i, batch] of run.entries()) {
      const end = offset + batch.entries.length;
      const mine = held.filter((q) => q.index >= offset && q.index < end);
      const appended = i === 0 ? { before, after, onlyMerged } : { before: after, after, onlyMerged: true };
      out.push({ ...appended, quarantined: mine.length, quarantineReasons: [...new Set(mine.map((q) => q.reason))] });
      offset = end;
    }
    if (result !== undefined && result.errors.length > 0) out[0]!.heldForDrift = { held: result.errors.length, aheadMs: Math.max(...result.errors.map((e) => e.aheadMs)) };
    return out;
  }

  /** Keeps the furthest-ahead write merge held for its stamp (errors and clock-drift holds pair up in order). */
  private noteDrift(entries: readonly OplogEntry[], result: MergeResult): void {
    const holds = result.quarantined.filter((q) => q.reason === 'clock-drift');
    let drift = this.drift;
    for (let i = 0; i < result.errors.length; i++) {
      const error = result.errors[i]!;
      const entry = entries[holds[i]?.index ?? -1];
      const device = entry?.groups.find((g) => g.hlc === error.remote)?.device ?? '';
      if (drift === undefined) drift = { device, stamp: error.remote, aheadMs: error.aheadMs, held: 0 };
      else if (error.aheadMs > drift.aheadMs) Object.assign(drift, { device, stamp: error.remote, aheadMs: error.aheadMs });
      drift.held += 1;
    }
    this.drift = drift;
  }

  /**
   * A page cache of at least GROUP_CACHE_KIB while a group is applied, then the connection's own
   * size again. Rows with random keys land all over the table and its indexes: with the default
   * cache (2 MB in SQLite, 16 MB as better-sqlite3 builds it) the pages a group changes did not
   * stay in memory once the table outgrew it, so they were read again and spilled to the WAL before
   * the commit wrote them once more.
   */
  private largerCache(): () => void {
    const size = Number(this.raw.pragma('cache_size'));
    const kib = size < 0 ? -size : (size * Number(this.raw.pragma('page_size'))) / 1024;
    if (kib >= GROUP_CACHE_KIB) return () => {};
    this.raw.exec(`PRAGMA cache_size = -${GROUP_CACHE_KIB}`);
    return () => this.raw.exec(`PRAGMA cache_size = ${size}`);
  }

  /**
   * WAL checkpoints at most every GROUP_CHECKPOINT_PAGES pages while a group is applied (they run
   * at commit), then the connection's own threshold again. A checkpoint copies every page the log
   * holds into the database file and waits for the disk twice; rows with random keys change pages
   * all over the table, and successive groups change the same pages again, so checkpointing at
   * nearly every group commit of an initial sync wrote those pages to the file over and over.
   * The log file then grows to about 40 MB (4 KiB pages) before its pages go to the database file.
   */
  private laterCheckpoints(): () => void {
    if (!this.wal) return () => {};
    const pages = Number(this.raw.pragma('wal_autocheckpoint'));
    // 0 or less: the app checkpoints itself, and keeps doing so.
    if (pages <= 0 || pages >= GROUP_CHECKPOINT_PAGES) return () => {};
    this.raw.exec(`PRAGMA wal_autocheckpoint = ${GROUP_CHECKPOINT_PAGES}`);
    return () => this.raw.exec(`PRAGMA wal_autocheckpoint = ${pages}`);
  }

  /**
   * A group of batches commits without waiting for the disk (WAL with synchronous = NORMAL), then
   * the connection's own setting comes back before any other code runs on it. Safe for a group: it
   * commits together with its cursor, so batches that power loss takes back also take their cursor
   * back, and the peer sends them again; the database stays consistent either way. An initial sync
   * commits a group every few thousand rows, and waiting for the disk at each was once the largest
   * single cost of the receiver.
   */
  private relaxedDurability(): () => void {
    // Inside a caller's transaction SQLite refuses to change it (and the caller's commit is not ours to relax).
    if (this.raw.inTransaction) return () => {};
    const level = Number(this.raw.pragma('synchronous'));
    if (level <= 1 || !this.wal) return () => {};
    this.raw.exec('PRAGMA synchronous = NORMAL');
    return () => this.raw.exec(`PRAGMA synchronous = ${level}`);
  }
}
