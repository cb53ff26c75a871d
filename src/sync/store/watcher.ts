/**
 * Notices new oplog rows, whichever connection or process wrote them. Capture triggers append to
 * ahenk_oplog on every connection, so `SELECT max(seq)` (O(log n)) sees them all; a file watch on
 * the WAL wakes us as soon as another process writes, and a short poll covers our own connection
 * and file systems where watching does not work. One watcher per connection serves every session.
 */
import { ConnectionSlot, type SqliteConnection, type SqliteStatement } from '../../sqlite/index.ts';
import { LIVE_POLL_INTERVAL_MS } from '../protocol/constants.ts';
import { unrefTimer } from '../session/signals.ts';
import { watchFile, type FileWatch } from './file-watch.ts';

interface Waiter {
  after: bigint;
  resolve(seq: bigint): void;
  reject(reason: unknown): void;
}

/** Re-checks after a file event: the WAL is written a moment before the commit becomes visible. */
const SETTLE_DELAYS_MS = [0, 1, 3];

export class OplogWatcher {
  private readonly waiters = new Set<Waiter>();
  private readonly maxSeq: SqliteStatement;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private settle: ReturnType<typeof setTimeout> | undefined;
  private fileWatch: FileWatch | undefined;

  private constructor(
    private readonly raw: SqliteConnection,
    private readonly intervalMs: number,
  ) {
    this.maxSeq = raw.prepare('SELECT max(seq) FROM ahenk_oplog');
  }

  private static readonly slot = new ConnectionSlot<{ watcher?: OplogWatcher }>('oplog watcher');

  static of(raw: SqliteConnection, intervalMs = LIVE_POLL_INTERVAL_MS): OplogWatcher {
    const held = raw.slot(OplogWatcher.slot, (): { watcher?: OplogWatcher } => ({}));
    let watcher = held.watcher;
    if (!watcher || watcher.intervalMs !== intervalMs) {
      if (watcher && watcher.waiters.size > 0) return watcher;
      watcher = new OplogWatcher(raw, intervalMs);
      held.watcher = watcher;
    }
    return watcher;
  }

  /** Whether a timer or file watch is running (only while someone waits). */
  get active(): boolean {
    return this.timer !== undefined || this.settle !== undefined || this.fileWatch !== undefined;
  }

  /** Current highest seq (0 for an empty log). */
  current(): bigint {
    return (this.maxSeq.value() as bigint | null) ?? 0n;
  }

  /** Resolves with the new max(seq) once it is above `after`; rejects when `signal` aborts. */
  waitBeyond(after: bigint, signal: AbortSignal): Promise<bigint> {
    signal.throwIfAborted();
    const now = this.current();
    if (now > after) return Promise.resolve(now);
    return new Promise<bigint>((resolve, reject) => {
      const waiter: Waiter = {
        after,
        resolve: (seq) => {
          signal.removeEventListener('abort', onAbort);
          resolve(seq);
        },
        reject: (reason) => {
          signal.removeEventListener('abort', onAbort);
          reject(reason);
        },
      };
      const onAbort = (): void => {
        this.waiters.delete(waiter);
        this.idle();
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(waiter);
      this.start();
    });
  }

  /** A write on this connection (a merge) just committed: check now instead of at the next tick. */
  poke(): void {
    if (this.waiters.size > 0) queueMicrotask(() => this.check());
  }

  private start(): void {
    if (this.timer === undefined) this.schedule();
    if (this.fileWatch === undefined) this.watchFile();
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.check();
      if (this.waiters.size > 0) this.schedule();
    }, this.intervalMs);
    unrefTimer(this.timer);
  }

  private watchFile(): void {
    const file = this.raw.path;
    if (file === '' || file === ':memory:') return;
    const wal = String(this.raw.pragma('journal_mode')).toLowerCase() === 'wal';
    // No watch (the file system does not support it, the WAL is not there yet, a browser): the poll suffices.
    this.fileWatch = watchFile(wal ? `${file}-wal` : file, () => this.onFileEvent(), () => this.stopFileWatch());
  }

  private onFileEvent(): void {
    if (this.settle !== undefined || this.waiters.size === 0) return;
    let step = 0;
    const next = (): void => {
      this.settle = undefined;
      if (!this.check() && this.waiters.size > 0 && ++step < SETTLE_DELAYS_MS.length) {
        this.settle = unrefTimer(setTimeout(next, SETTLE_DELAYS_MS[step]));
      }
    };
    this.settle = unrefTimer(setTimeout(next, SETTLE_DELAYS_MS[0]));
  }

  /** Resolves the waiters the log has moved past; returns whether any were. */
  private check(): boolean {
    if (this.waiters.size === 0) return false;
    let seq: bigint;
    try {
      if (!this.raw.isOpen) throw new Error('the database was closed');
      seq = this.current();
    } catch (error) {
      for (const waiter of this.waiters) waiter.reject(error);
      this.waiters.clear();
      this.idle();
      return false;
    }
    let woke = false;
    for (const waiter of this.waiters) {
      if (seq > waiter.after) {
        this.waiters.delete(waiter);
        waiter.resolve(seq);
        woke = true;
      }
    }
    this.idle();
    return woke;
  }

  /** Nobody waits: no timer, no watch. */
  private idle(): void {
    if (this.waiters.size > 0) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.settle !== undefined) clearTimeout(this.settle);
    this.timer = undefined;
    this.settle = undefined;
    this.stopFileWatch();
  }

  private stopFileWatch(): void {
    this.fileWatch?.close();
    this.fileWatch = undefined;
  }
}
