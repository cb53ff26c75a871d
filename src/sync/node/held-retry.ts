/**
 * The running node's side of the quarantine: entries held back because their stamps were too far
 * ahead are applied once time brings them inside the allowance (a timer set for the earliest
 * held stamp, never longer than RETRY_MAX_WAIT_MS, since a corrected wall clock moves that time),
 * after each catch-up, and all held entries are retried once the database's schema has changed.
 * Work is done in slices of RETRY_SLICE_ENTRIES with the event loop free in between. Drift is
 * reported as `clock:drift` events, an `error` event (ClockDriftError) and a log line: for peers
 * whose writes are held, and for this device when its own stamps run ahead of its wall clock. A
 * peer's word that it holds ours (DRIFT) is recorded in the database, where getClockDrift and
 * `ahenk status` find it until it no longer holds, and dropped (and said) at the next look after.
 * Given a DatabaseTurn (a browser's tabs share the connection), each slice waits for its turn, as
 * a session's group does: applied inside a tab's open transaction, it would go with its ROLLBACK.
 */
import type { SqliteConnection } from '../../sqlite/index.ts';
import { ClockDriftError } from '../../clock/errors.ts';
import { getClockDrift, prunePeerDriftNotices, recordPeerDriftNotice } from '../../merge/drift.ts';
import { retryQuarantined } from '../../merge/merge.ts';
import { earliestHeldStamp } from '../../merge/quarantine.ts';
import { hlcMs } from '../../clock/timestamp.ts';
import { afterPending, unrefTimer } from '../session/signals.ts';
import type { DatabaseTurn } from '../session/turn.ts';
import type { BatchDrift } from '../store/index.ts';
import type { ResolvedConfig } from './config.ts';
import { DRIFT_REPORT_INTERVAL_MS, RETRY_MAX_WAIT_MS, RETRY_SLICE_ENTRIES } from './constants.ts';
import type { SyncNodeEmitter } from './events.ts';
import type { SessionHost } from './sessions.ts';

export class HeldEntryRetry {
  readonly #raw: SqliteConnection;
  readonly #config: ResolvedConfig;
  readonly #events: SyncNodeEmitter;
  readonly #stopSignal: AbortSignal;
  readonly #turn: DatabaseTurn | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running = false;
  #again = false;
  #schemaVersion: number;
  #ownAhead = false;
  /** Per peer: when it was last reported, and what was held since. */
  readonly #reports = new Map<string, { at: number; held: number }>();

  constructor(raw: SqliteConnection, config: ResolvedConfig, events: SyncNodeEmitter, stopSignal: AbortSignal, turn?: DatabaseTurn) {
    this.#raw = raw;
    this.#turn = turn;
    this.#config = config;
    this.#events = events;
    this.#stopSignal = stopSignal;
    this.#schemaVersion = this.#currentSchemaVersion();
    stopSignal.addEventListener('abort', () => clearTimeout(this.#timer), { once: true });
  }

  /**
   * Looks at the own clock and retries what is due, from then on by itself. The first look waits
   * for the next turn of the event loop, so listeners added as soon as createSyncNode resolves
   * hear what it finds.
   */
  start(): void {
    const cancel = afterPending(() => this.run());
    this.#stopSignal.addEventListener('abort', cancel, { once: true });
  }

  /** What a node's sessions tell the retry: SessionHost's clockDrift, caughtUp and driftReported. */
  sessionHooks(): Pick<SessionHost, 'clockDrift' | 'caughtUp' | 'driftReported'> {
    return {
      clockDrift: (peerId, drift) => this.held(peerId, drift),
      caughtUp: () => this.run(),
      driftReported: (peerId, report) => this.reported(peerId, report),
    };
  }

  /**
   * A session held writes for their stamps: report it (at most once per peer per
   * DRIFT_REPORT_INTERVAL_MS) and make sure the timer is set for the earliest held stamp.
   */
  held(peerId: string, drift: BatchDrift): void {
    if (this.#stopSignal.aborted) return;
    const now = this.#config.now();
    const report = this.#reports.get(peerId) ?? { at: Number.NEGATIVE_INFINITY, held: 0 };
    report.held += drift.held;
    this.#reports.set(peerId, report);
    if (now - report.at >= DRIFT_REPORT_INTERVAL_MS) {
      const maxDriftMs = this.#config.maxDriftMs;
      const dueAt = now + drift.aheadMs - maxDriftMs;
      const from = drift.device === peerId || drift.device === '' ? peerId : `${drift.device} (through ${peerId})`;
      this.#config.log(
        `clock drift: ${report.held} writes from ${from} are stamped up to ${formatDuration(drift.aheadMs)} ahead of this device's clock ` +
          `(allowance ${formatDuration(maxDriftMs)}); held back until ${new Date(dueAt).toISOString()}. ` +
          `Either that device's clock (or its stamps) runs ahead, or this device's clock runs behind: see docs/decisions.md, "Clock drift"`,
      );
      this.#events.emit('clock:drift', { direction: 'peer-ahead', peerId, device: drift.device, aheadMs: drift.aheadMs, maxDriftMs, held: report.held, dueAt });
      this.#events.emit('error', { error: new ClockDriftError(drift.stamp, drift.aheadMs, maxDriftMs), peerId });
      report.at = now;
      report.held = 0;
    }
    this.#schedule();
  }

  /**
   * `peerId` says it holds our writes back for their stamps (its DRIFT message): this device's
   * clock or stamps run ahead of the peer's clock, or the peer's clock runs behind. Told at most
   * once per DRIFT_REPORT_INTERVAL_MS per peer.
   */
  reported(peerId: string, report: { held: number; aheadMs: number }): void {
    if (this.#stopSignal.aborted) return;
    const now = this.#config.now();
    this.#whenFree(() => {
      try {
        recordPeerDriftNotice(this.#raw, peerId, report, this.#config.now());
      } catch (error) {
        // A busy database: the event and the log line below still tell it; the peer tells again.
        this.#config.log(`could not record ${peerId}'s drift notice: ${(error as Error).message}`);
      }
    });
    const key = `reported:${peerId}`;
    const last = this.#reports.get(key) ?? { at: Number.NEGATIVE_INFINITY, held: 0 };
    last.held += report.held;
    this.#reports.set(key, last);
    if (now - last.at < DRIFT_REPORT_INTERVAL_MS) return;
    const maxDriftMs = this.#config.maxDriftMs;
    const dueAt = now + report.aheadMs - maxDriftMs;
    this.#config.log(
      `clock drift: ${peerId} holds back ${last.held} of this device's writes, stamped up to ${formatDuration(report.aheadMs)} ahead of its clock: ` +
        `this device's clock (or its stamps) runs ahead, or that device's clock runs behind. See docs/decisions.md, "Clock drift"`,
    );
    this.#events.emit('clock:drift', { direction: 'local-ahead', peerId, aheadMs: report.aheadMs, maxDriftMs, held: last.held, dueAt });
    last.at = now;
    last.held = 0;
  }

  /** Retries what is due (and everything, when the schema changed), slice by slice; then sets the timer again. */
  run(): void {
    if (this.#stopSignal.aborted) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    clearTimeout(this.#timer);
    let everything = false;
    let upToId = 0;
    try {
      this.#checkOwnClock();
      const schemaVersion = this.#currentSchemaVersion();
      everything = schemaVersion !== this.#schemaVersion;
      this.#schemaVersion = schemaVersion;
      // Entries held again get new ids: a full pass stops at the last id there was when it began.
      upToId = Number(this.#raw.cached('SELECT coalesce(max(id), 0) FROM ahenk_quarantine').value());
    } catch (error) {
      this.#finish(error, false);
      return;
    }
    let afterId = 0;
    let applied = 0;
    let unreadable: Error | undefined;
    const step = (): void => {
      if (this.#stopSignal.aborted) return;
      // Checked in the same continuation as the slice's transaction; a stop ends the wait (and the pass).
      if (this.#turn !== undefined && !this.#turn.free()) {
        this.#turn.wait(this.#stopSignal).then(step, () => {});
        return;
      }
      try {
        if (afterId === 0) this.#pruneNotices();
        const result = retryQuarantined(this.#raw, {
          now: this.#config.now,
          maxDriftMs: this.#config.maxDriftMs,
          dueOnly: !everything,
          limit: RETRY_SLICE_ENTRIES,
          afterId,
          upToId,
        });
        applied += result.applied + result.unchanged;
        afterId = result.lastId;
        unreadable ??= result.unreadable[0];
        if (result.scanned === RETRY_SLICE_ENTRIES) {
          afterPending(step);
          return;
        }
      } catch (error) {
        this.#finish(error, everything);
        return;
      }
      if (applied > 0) this.#config.log(`applied ${applied} held-back entries${everything ? ' (the schema changed)' : ' (their stamps are inside the drift allowance now)'}`);
      // A held row that cannot be read stays where it is; it is told, and looked at again later.
      this.#finish(unreadable, everything);
    };
    step();
  }

  /**
   * A pass is over. A failure (a busy database, a damaged row) is told and tried again at the next
   * look, not at once; a full pass that failed is made again then.
   */
  #finish(error: unknown, everything: boolean): void {
    this.#running = false;
    if (error !== undefined) {
      if (everything) this.#schemaVersion = -1;
      this.#events.emit('error', { error: error instanceof Error ? error : new Error(String(error)) });
    }
    if (this.#again) {
      this.#again = false;
      this.run();
    } else this.#schedule(error !== undefined);
  }

  /** The timer for the earliest held stamp, or for the next look at the clock and the schema. */
  #schedule(afterFailure = false): void {
    if (this.#stopSignal.aborted || this.#running) return;
    clearTimeout(this.#timer);
    let earliest: bigint | undefined;
    try {
      earliest = afterFailure ? undefined : earliestHeldStamp(this.#raw);
    } catch {
      // Looked at again at the next wake.
    }
    let wait = RETRY_MAX_WAIT_MS;
    // The horizon counts whole milliseconds: a stamp of millisecond m is due once now + allowance >= m.
    if (earliest !== undefined) wait = Math.min(wait, Math.max(0, hlcMs(earliest) - Math.floor(this.#config.maxDriftMs) - Math.floor(this.#config.now()) + 1));
    // The node's sockets keep the process alive while it runs; its housekeeping need not.
    this.#timer = unrefTimer(setTimeout(() => this.run(), wait));
  }

  /** Tells once (event, error, log) when this device's own stamps run ahead of its wall clock, and once when they no longer do. */
  #checkOwnClock(): void {
    const report = getClockDrift(this.#raw, { now: this.#config.now, maxDriftMs: this.#config.maxDriftMs });
    if (report.ownAhead === this.#ownAhead) return;
    this.#ownAhead = report.ownAhead;
    if (!report.ownAhead) {
      this.#config.log(`clock drift: this device's stamps are back inside the allowance of its clock`);
      return;
    }
    const dueAt = Math.floor(this.#config.now()) + report.ownAheadMs - report.maxDriftMs;
    this.#config.log(
      `clock drift: this device's stamps run ${formatDuration(report.ownAheadMs)} ahead of its wall clock (allowance ${formatDuration(report.maxDriftMs)}): ` +
        `its peers hold its writes back until ${new Date(dueAt).toISOString()}. Its clock was fast once and the stamps never go back: ` +
        `see docs/decisions.md, "Clock drift", for the way out`,
    );
    this.#events.emit('clock:drift', { direction: 'local-ahead', aheadMs: report.ownAheadMs, maxDriftMs: report.maxDriftMs, held: 0, dueAt });
  }

  /** Drops the peers' drift notices that no longer hold, saying so. */
  #pruneNotices(): void {
    for (const notice of prunePeerDriftNotices(this.#raw, this.#config.now())) {
      this.#config.log(`clock drift: ${notice.peerId} no longer holds this device's writes back (it held them until ${new Date(notice.until).toISOString()} at the latest)`);
    }
  }

  /** Runs `write` now, or where the connection is shared, in the next turn (inside a tab's transaction it would go with its ROLLBACK). */
  #whenFree(write: () => void): void {
    if (this.#turn === undefined || this.#turn.free()) return write();
    this.#turn.wait(this.#stopSignal).then(
      () => {
        if (!this.#stopSignal.aborted) this.#whenFree(write);
      },
      () => {},
    );
  }

  #currentSchemaVersion(): number {
    return Number(this.#raw.pragma('schema_version'));
  }
}

/** 330000 -> '5.5 min', 86400000 -> '24 h': for log lines. */
export function formatDuration(ms: number): string {
  const abs = Math.abs(ms);
  if (abs < 1_000) return `${Math.round(ms)} ms`;
  if (abs < 120_000) return `${+(ms / 1_000).toFixed(1)} s`;
  if (abs < 7_200_000) return `${+(ms / 60_000).toFixed(1)} min`;
  if (abs < 172_800_000) return `${+(ms / 3_600_000).toFixed(1)} h`;
  return `${+(ms / 86_400_000).toFixed(1)} d`;
}
