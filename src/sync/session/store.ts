/**
 * What a sync session needs from the database it syncs, and nothing more: positions in its own
 * log, a window of the log to send, a batch to apply together with the peer's cursor, and a wait
 * for new local writes. The session knows no SQLite and no migrator; src/sync/store/ implements
 * this over an Ahenk database (and watches its WAL file for other processes' writes).
 */
import type { OplogEntry } from '../../oplog/entry.ts';

export interface AppliedBatch {
  /** The log rows this apply appended are (before, after] in log order. */
  before: bigint;
  after: bigint;
  /**
   * Every appended row is a merged entry. False if something else logged local writes inside the
   * apply, such as a capture refresh: those rows are news to the peer and must not be skipped as echo.
   */
  onlyMerged: boolean;
  /** Entries held back (quarantined) by this apply, and why (for the session's log). */
  quarantined: number;
  quarantineReasons: readonly string[];
}

export interface ExportWindow {
  entries: OplogEntry[];
  /** Where the window ends: the cursor the peer holds once it has applied it. */
  next: bigint;
}

export interface SyncStore {
  /** The Ahenk schema version this database is at (announced in hello). */
  schemaVersion(): number;
  /** The cursor into `peerId`'s log that this database has applied; '' when none. */
  loadCursor(peerId: string): string;
  /**
   * Applies a batch and stores the peer's cursor in one transaction: after a cut, the cursor says
   * exactly what is applied. A batch merge refuses throws ProtocolError PROTOCOL_ENTRY_REJECTED.
   */
  applyBatch(peerId: string, entries: readonly OplogEntry[], cursor: string): AppliedBatch;
  /** Rows of the own log after position `from`. */
  rowsAfter(from: bigint): number;
  /** Rows of the own log in (from, to], counting at most `cap`. */
  rowsBetween(from: bigint, to: bigint, cap: number): number;
  /** What a peer at position `from` lacks, about `limit` log rows of it. */
  exportWindow(from: bigint, limit: number): ExportWindow;
  /** Resolves with the log's position once it is beyond `after`, whichever process wrote; rejects on abort. */
  waitBeyond(after: bigint, signal: AbortSignal): Promise<bigint>;
  /** The session's own apply appended rows: waiters check now rather than at the next poll. */
  poke(): void;
}
