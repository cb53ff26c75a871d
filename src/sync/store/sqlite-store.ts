/**
 * The sync session's store over an Ahenk database: the log's positions and windows (oplog), the
 * per-peer cursor (ahenk_cursors), the batch apply that merges and advances the cursor in one
 * transaction, and the wait for new writes of any process (the oplog watcher).
 */
import { InvalidEntryError } from '../../errors.ts';
import { getOplogEntriesSince } from '../../database/exchange.ts';
import { getSchemaVersion } from '../../database/initialize.ts';
import { merge } from '../../merge/merge.ts';
import { parseCursor } from '../../oplog/cursor.ts';
import type { OplogEntry } from '../../oplog/entry.ts';
import type { SqliteConnection, SqliteStatement } from '../../sqlite/index.ts';
import { ProtocolError } from '../protocol/errors.ts';
import type { AppliedBatch, ExportWindow, SyncStore } from '../session/store.ts';
import { OplogWatcher } from './watcher.ts';

export class SqliteSyncStore implements SyncStore {
  private readonly watcher: OplogWatcher;
  private readonly maxSeqStmt: SqliteStatement;
  private readonly loadCursorStmt: SqliteStatement;
  private readonly saveCursorStmt: SqliteStatement;
  private readonly countStmt: SqliteStatement;
  private readonly countAfterStmt: SqliteStatement;
  private readonly localRowsStmt: SqliteStatement;

  /** Only WAL keeps a database consistent with synchronous = NORMAL (see relaxedDurability). */
  private readonly wal: boolean;

  /** `pollIntervalMs`: how often the watcher looks at the log besides the WAL file's events. */
  constructor(
    readonly raw: SqliteConnection,
    pollIntervalMs?: number,
  ) {
    this.watcher = OplogWatcher.of(raw, pollIntervalMs);
    this.maxSeqStmt = raw.prepare('SELECT max(seq) FROM ahenk_oplog');
    this.loadCursorStmt = raw.prepare('SELECT received FROM ahenk_cursors WHERE peer_id = ?');
    this.saveCursorStmt = raw.prepare('INSERT INTO ahenk_cursors (peer_id, received) VALUES (?, ?) ON CONFLICT (peer_id) DO UPDATE SET received = excluded.received');
    this.countStmt = raw.prepare('SELECT count(*) FROM (SELECT 1 FROM ahenk_oplog WHERE seq > ? AND seq <= ? LIMIT ?)', { integers: 'number' });
    this.countAfterStmt = raw.prepare('SELECT count(*) FROM ahenk_oplog WHERE seq > ?', { integers: 'number' });
    this.localRowsStmt = raw.prepare('SELECT count(*) FROM ahenk_oplog WHERE seq > ? AND seq <= ? AND hlc IS NULL', { integers: 'number' });
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
    const window = getOplogEntriesSince(this.raw, from.toString(), { limit });
    return { entries: window.entries, next: parseCursor(window.cursor) };
  }

  waitBeyond(after: bigint, signal: AbortSignal): Promise<bigint> {
    return this.watcher.waitBeyond(after, signal);
  }

  poke(): void {
    this.watcher.poke();
  }

  /**
   * Merges a batch and stores the peer's cursor in one write transaction (merge's own transaction
   * nests as a savepoint): after a cut, the cursor says exactly what is applied.
   */
  applyBatch(peerId: string, entries: readonly OplogEntry[], cursor: string): AppliedBatch {
    const restore = this.relaxedDurability();
    try {
      return this.raw
        .transaction((): AppliedBatch => {
          const before = this.maxSeq();
          const result = entries.length > 0 ? merge(this.raw, entries) : undefined;
          const after = this.maxSeq();
          const onlyMerged = after === before || (this.localRowsStmt.value(before, after) as number) === 0;
          if (cursor !== '') this.saveCursorStmt.run(peerId, cursor);
          const held = result?.quarantined ?? [];
          return { before, after, onlyMerged, quarantined: held.length, quarantineReasons: [...new Set(held.map((q) => q.reason))] };
        });
    } catch (error) {
      if (error instanceof InvalidEntryError) throw new ProtocolError('PROTOCOL_ENTRY_REJECTED', `batch refused, nothing applied: ${error.message}`, { cause: error });
      throw error;
    } finally {
      restore();
    }
  }

  /**
   * A batch commits without waiting for the disk (WAL with synchronous = NORMAL), then the
   * connection's own setting comes back before any other code runs on it. Safe for a batch: it
   * commits together with the cursor, so a batch that power loss takes back also takes its
   * cursor back, and the peer sends it again; the database stays consistent either way. An initial
   * sync commits a batch every thousand rows, and waiting for the disk at each was the largest
   * single cost of the receiver.
   */
  private relaxedDurability(): () => void {
    const level = Number(this.raw.pragma('synchronous'));
    if (level <= 1 || !this.wal) return () => {};
    this.raw.exec('PRAGMA synchronous = NORMAL');
    return () => this.raw.exec(`PRAGMA synchronous = ${level}`);
  }
}
