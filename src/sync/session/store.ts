/**
 * What a sync session needs from the database it syncs, and nothing more: positions in its own
 * log, a window of the log to send, a batch to apply together with the peer's cursor, and a wait
 * for new local writes. The session knows no SQLite and no migrator; src/sync/store/ implements
 * this over an Ahenk database (and watches its WAL file for other processes' writes).
 */
import type { OplogEntry } from '../../oplog/entry.ts';
import type { ProtocolError } from '../protocol/errors.ts';

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
  /** Writes held back because their stamps were too far ahead of our clock: how many, and the furthest (ms). */
  heldForDrift?: { held: number; aheadMs: number };
}

/** A batch as received: its entries and the sender's cursor once it is applied ('' when it does not move). */
export interface ReceivedBatch {
  entries: readonly OplogEntry[];
  cursor: string;
}

/** What one group apply committed: the batches applied, in order, and the refusal that stopped it. */
export interface AppliedGroup {
  applied: AppliedBatch[];
  /**
   * Why the batch after the applied ones is not applied at all: PROTOCOL_ENTRY_REJECTED (merge
   * refused an entry) or PROTOCOL_INTERNAL (this side cannot take it now: the quarantine is full).
   */
  refused?: ProtocolError;
}

export interface ExportWindow {
  entries: OplogEntry[];
  /** Where the window ends: the cursor the peer holds once it has applied it. */
  next: bigint;
}

/** A window of a snapshot (SyncStore.snapshotWindow): entries in key order, and where the next one starts. */
export interface SnapshotWindow {
  entries: OplogEntry[];
  /** Opaque to the session: passed back for the next window. Undefined once the snapshot is whole. */
  next: unknown;
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
  /**
   * Applies batches that arrived together, in order, in one transaction with the cursor of the
   * last one applied (group commit: a database writes each changed page once per commit, not once
   * per batch). Starts no further batch once `budgetMs` has passed, but applies at least one. A
   * batch merge refuses applies nothing and ends the group: the ones before it are committed and
   * `refused` says why. Optional: without it, the session applies one batch per applyBatch.
   */
  applyBatches?(peerId: string, batches: readonly ReceivedBatch[], budgetMs: number): AppliedGroup;
  /** Rows of the own log after position `from`. */
  rowsAfter(from: bigint): number;
  /** Rows of the own log in (from, to], counting at most `cap`. */
  rowsBetween(from: bigint, to: bigint, cap: number): number;
  /** What a peer at position `from` lacks, about `limit` log rows of it. */
  exportWindow(from: bigint, limit: number): ExportWindow;
  /**
   * Starts a snapshot for `peerId`, which holds nothing of our log: returns the log position that
   * the peer holds once it has every window, or undefined when it should get the log in windows
   * instead. A snapshot cut short starts over (its windows move no cursor), so a store sends a
   * peer windows, which resume, once a snapshot for it has begun. Optional, with snapshotWindow:
   * without them, a peer that holds nothing gets the log in windows like any other.
   */
  beginSnapshot?(peerId: string): bigint | undefined;
  /**
   * About `limit` entries of everything the database holds, in key order table by table, from
   * `at` (undefined: the start; else a window's `next`).
   */
  snapshotWindow?(at: unknown, limit: number): SnapshotWindow;
  /** Resolves with the log's position once it is beyond `after`, whichever process wrote; rejects on abort. */
  waitBeyond(after: bigint, signal: AbortSignal): Promise<bigint>;
  /** The session's own apply appended rows: waiters check now rather than at the next poll. */
  poke(): void;
  /**
   * Remembers how far `peerId` holds our log (its HAVE, then each acknowledged batch), for status
   * (entries waiting to be sent). The session calls it at most about once a second and at its end.
   * Optional: a store without it keeps no record.
   */
  savePeerPosition?(peerId: string, position: bigint): void;
}
