/**
 * The sending half of a session: exports the log in windows from the cursor the peer holds, keeps
 * at most `window` batches unacknowledged, and does not echo back what it just merged from this
 * same peer (the peer has it: it sent it).
 */
import { parseCursor } from '../../oplog/cursor.ts';
import { InvalidCursorError } from '../../errors.ts';
import { encodeBatchFrames, encodeMessage } from '../protocol/messages.ts';
import { ProtocolError } from '../protocol/errors.ts';
import type { SyncStore } from './store.ts';
import type { SessionTurn } from './turn.ts';

/**
 * Ranges (start, end] of our log appended by merging this peer's batches. Merges append at the end
 * of the log, so ranges arrive in order and adjacent ones coalesce.
 */
export class EchoRanges {
  private readonly ranges: { start: bigint; end: bigint }[] = [];

  add(start: bigint, end: bigint): void {
    const last = this.ranges.at(-1);
    if (last && last.end >= start) last.end = end > last.end ? end : last.end;
    else this.ranges.push({ start, end });
  }

  /** The first range ending after `pos`, forgetting those before it. */
  next(pos: bigint): { start: bigint; end: bigint } | undefined {
    while (this.ranges.length > 0 && this.ranges[0]!.end <= pos) this.ranges.shift();
    return this.ranges[0];
  }
}

/**
 * A peer that holds nothing gets a snapshot when our log holds at least this many rows: below it
 * an initial sync takes a fraction of a second either way, and windows resume after a cut where a
 * snapshot starts over (docs/decisions.md, "A snapshot for a peer that holds nothing").
 */
export const SNAPSHOT_MIN_ROWS = 10_000;

export interface SenderHooks {
  /** This side's device id, as its HELLO says: BATCH frames name it by reference (docs/protocol.md). */
  readonly localDeviceId: string;
  /** The peer's device id, from its HELLO (a snapshot is begun once per peer: SyncStore.beginSnapshot). */
  remoteDeviceId(): string;
  /** Queues a frame on the outbox. */
  push(frame: Uint8Array): void;
  /** True once the session stops sending new data (live stop, failure). */
  stopping(): boolean;
  /** Waits until an ack arrives or the session stops. */
  acked(): Promise<void>;
  onBatch(entries: number, frameBytes: number, remaining: number): void;
  /** The peer holds our log up to `position`: its HAVE, then the cursor of each batch it acknowledged. */
  onPeerPosition?(position: bigint): void;
  /**
   * Where the connection is shared (a browser's tabs): a window is exported only when it is free,
   * so rows of a transaction that may still roll back are never sent.
   */
  turn?: SessionTurn;
}

export class Sender {
  readonly echo = new EchoRanges();
  /** Number of the last batch queued. */
  lastBatch = 0;
  /** Highest batch the peer acknowledged. */
  lastAcked = 0;
  /** Most batches unacknowledged at once during the session (observability, tests). */
  peakInFlight = 0;
  window = 1;
  /** drain has run in this session (a snapshot is offered on the first only). */
  private drained = false;
  /** Batches in flight that carry a cursor, oldest first: an ack of one moves the peer's position there. */
  private readonly cursors: { batch: number; position: bigint }[] = [];

  constructor(
    private readonly store: SyncStore,
    private readonly batchSize: number,
    private readonly hooks: SenderHooks,
  ) {}

  get inFlight(): number {
    return this.lastBatch - this.lastAcked;
  }

  onAck(batch: number): void {
    if (batch <= this.lastAcked || batch > this.lastBatch) {
      throw new ProtocolError('PROTOCOL_UNEXPECTED_MESSAGE', `ack of batch ${batch}, but batches ${this.lastAcked + 1}..${this.lastBatch} are the ones in flight`);
    }
    this.lastAcked = batch;
    let position: bigint | undefined;
    while (this.cursors.length > 0 && this.cursors[0]!.batch <= batch) position = this.cursors.shift()!.position;
    if (position !== undefined) this.hooks.onPeerPosition?.(position);
  }

  /** Validates the cursor a peer says it holds for our log. */
  static parse(cursor: string): bigint {
    try {
      return parseCursor(cursor);
    } catch (error) {
      if (error instanceof InvalidCursorError) throw new ProtocolError('PROTOCOL_MALFORMED', `peer holds an invalid cursor for our log: ${error.message}`);
      throw error;
    }
  }

  /**
   * Sends every window from `from` until the log is exhausted (or the session stops); returns the
   * position reached. Nothing beyond one window is exported while the peer's window is full.
   */
  async drain(from: bigint): Promise<bigint> {
    let pos = from;
    let backlog = this.store.rowsAfter(pos);
    // Only a session's first drain: a later one from 0 finds our log filled by merging the peer's
    // batches (an empty device's first session), which the windows skip as echo and a snapshot
    // would send back whole.
    const first = this.drained === false;
    this.drained = true;
    if (first && pos === 0n && backlog >= SNAPSHOT_MIN_ROWS && this.store.beginSnapshot !== undefined && this.store.snapshotWindow !== undefined) {
      // A peer that holds nothing of our log gets a snapshot, then the log after it. Its position
      // is read with the connection free (a tab's open transaction may still roll back its rows).
      if (!(await this.readyToExport())) return pos;
      const position = this.store.beginSnapshot(this.hooks.remoteDeviceId());
      if (position !== undefined) {
        const reached = await this.sendSnapshot(position, backlog);
        if (reached === undefined) return pos;
        pos = reached;
        backlog = this.store.rowsAfter(pos);
      }
    }
    let unsentCursor: string | undefined;
    for (;;) {
      if (!(await this.readyToExport())) return pos;
      // From here to the window's frames being queued, nothing waits: the export sees the connection as checked.
      let limit = this.batchSize;
      const echo = this.echo.next(pos);
      if (echo !== undefined) {
        const own = pos >= echo.start ? 0 : this.store.rowsBetween(pos, echo.start, this.batchSize);
        if (own === 0) {
          backlog -= this.store.rowsBetween(pos, echo.end, Number.MAX_SAFE_INTEGER);
          pos = echo.end;
          unsentCursor = pos.toString();
          continue;
        }
        limit = own;
      }
      const window = this.store.exportWindow(pos, limit);
      const next = window.next;
      if (window.entries.length === 0) {
        if (next === pos) break;
        // Every row of the window was superseded by a later one: move on, tell the peer later.
        backlog -= this.store.rowsBetween(pos, next, limit);
        pos = next;
        unsentCursor = next.toString();
        continue;
      }
      backlog -= this.store.rowsBetween(pos, next, limit);
      const remaining = Math.max(0, backlog);
      const frames = encodeBatchFrames(window.entries, { firstBatch: this.lastBatch + 1, cursor: next.toString(), remaining, sender: this.hooks.localDeviceId });
      for (const [i, { frame, entries }] of frames.entries()) {
        // A window cut into several frames may find the peer's window full half way: wait, even
        // when stopping, or the peer would get a window without its cursor and resend it next time.
        while (this.inFlight >= this.window) await this.hooks.acked();
        this.queue(frame, i === frames.length - 1 ? next : undefined);
        this.hooks.onBatch(entries, frame.byteLength, remaining);
      }
      pos = next;
      unsentCursor = undefined;
    }
    if (unsentCursor !== undefined) {
      while (this.inFlight >= this.window && !this.hooks.stopping()) await this.hooks.acked();
      // Stopping with a full window: the peer resends a little next time rather than us overrunning it.
      if (this.inFlight >= this.window) return pos;
      const frame = encodeMessage({ type: 'batch', batch: this.lastBatch + 1, cursor: unsentCursor, remaining: 0, entries: [] });
      this.queue(frame, pos);
      this.hooks.onBatch(0, frame.byteLength, 0);
    }
    return pos;
  }

  /**
   * Sends a snapshot of everything we hold, in key order (SyncStore.snapshotWindow), and returns
   * the log position it covers, or undefined if the session stopped first. Only the last window's
   * last frame carries a cursor, so the peer's cursor does not move until it has the whole
   * snapshot: a cut leaves it empty (and the store then sends windows: beginSnapshot). Key order
   * is what makes the peer's writes cheap: with random keys, windows of the log in write order
   * each land all over its tables (docs/decisions.md, "A snapshot for a peer that holds nothing").
   */
  private async sendSnapshot(position: bigint, backlog: number): Promise<bigint | undefined> {
    let at: unknown;
    let sent = 0;
    for (;;) {
      if (!(await this.readyToExport())) return undefined;
      const window = this.store.snapshotWindow!(at, this.batchSize);
      const last = window.next === undefined;
      sent += window.entries.length;
      // Entries and log rows differ (a row's history is one entry): the count is a progress estimate until the last window.
      const remaining = last ? this.store.rowsAfter(position) : Math.max(1, backlog - sent);
      const cursor = last ? position.toString() : '';
      if (window.entries.length === 0) {
        // Only a last window can be empty (the others are full): it still carries the cursor.
        if (!last) throw new Error('an empty snapshot window before the last');
        const frame = encodeMessage({ type: 'batch', batch: this.lastBatch + 1, cursor, remaining, entries: [] });
        this.queue(frame, position);
        this.hooks.onBatch(0, frame.byteLength, remaining);
        return position;
      }
      const frames = encodeBatchFrames(window.entries, { firstBatch: this.lastBatch + 1, cursor, remaining, sender: this.hooks.localDeviceId });
      for (const [i, { frame, entries }] of frames.entries()) {
        while (this.inFlight >= this.window) await this.hooks.acked();
        this.queue(frame, last && i === frames.length - 1 ? position : undefined);
        this.hooks.onBatch(entries, frame.byteLength, remaining);
      }
      if (last) return position;
      at = window.next;
    }
  }

  /**
   * Waits until the peer's window has room and the connection is ours (a tab's transaction may
   * still roll back its rows); false if the session stops first. Nothing may wait between this and
   * the export it guards.
   */
  private async readyToExport(): Promise<boolean> {
    while (this.inFlight >= this.window && !this.hooks.stopping()) await this.hooks.acked();
    const turn = this.hooks.turn;
    if (turn !== undefined) while (!this.hooks.stopping() && !turn.free()) await turn.wait();
    return !this.hooks.stopping();
  }

  /** Resolves once every queued batch is acknowledged (or the session stops). */
  async allAcked(): Promise<void> {
    while (this.inFlight > 0) await this.hooks.acked();
  }

  private queue(frame: Uint8Array, position: bigint | undefined): void {
    this.lastBatch++;
    if (position !== undefined) this.cursors.push({ batch: this.lastBatch, position });
    this.peakInFlight = Math.max(this.peakInFlight, this.inFlight);
    this.hooks.push(frame);
  }
}
