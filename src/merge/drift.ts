/**
 * Clock drift as this database sees it: how far its own stamps run ahead of its wall clock, and
 * which devices' writes it holds back because their stamps are too far ahead of it. A stamp ahead
 * of our clock means the writer's clock (or its HLC) runs ahead, or ours runs behind: from one
 * database the two look the same, so the report names both sides' figures and docs/decisions.md
 * ("Clock drift") says how to tell them apart and what to do.
 */
import { DEFAULT_MAX_DRIFT_MS } from '../clock/hybrid-logical-clock.ts';
import { hlcMs } from '../clock/timestamp.ts';
import { connectionOf, type DatabaseHandle } from '../sqlite/index.ts';

export interface HeldForDrift {
  /** The device whose writes are held (it stamped them). */
  device: string;
  entries: number;
  /** How far the furthest-ahead held stamp is ahead of this device's wall clock now (ms; negative once due). */
  aheadMs: number;
  /** Wall-clock time (Unix ms, by this device's clock) when the last of them comes inside the allowance. */
  dueAt: number;
}

export interface ClockDriftReport {
  /** The allowance the report is measured against (ms). */
  maxDriftMs: number;
  /**
   * How far this device's next stamp is ahead of its wall clock (ms, 0 when not ahead). Its stamps
   * run ahead when its clock was fast once: the HLC never goes back, so it keeps stamping ahead.
   */
  ownAheadMs: number;
  /** ownAheadMs is above the allowance: peers hold this device's writes back until time catches up. */
  ownAhead: boolean;
  /** Writes held back because their stamps were too far ahead, by device (most entries first). */
  held: HeldForDrift[];
}

export function getClockDrift(db: DatabaseHandle, options: { now?: () => number; maxDriftMs?: number } = {}): ClockDriftReport {
  const raw = connectionOf(db);
  const wallMs = Math.floor((options.now ?? Date.now)());
  const maxDriftMs = options.maxDriftMs ?? DEFAULT_MAX_DRIFT_MS;
  const clock = (raw.cached('SELECT hlc FROM ahenk_clock WHERE id = 0').value() as bigint | undefined) ?? 0n;
  const seq = (raw.cached('SELECT max(seq) FROM ahenk_oplog').value() as bigint | null) ?? 0n;
  const newest = clock > seq ? clock : seq;
  const ownAheadMs = Math.max(0, hlcMs(newest) - wallMs);
  const rows = raw
    .cached('SELECT device, count(*), max(hlc) FROM ahenk_quarantine WHERE hlc IS NOT NULL GROUP BY device ORDER BY count(*) DESC, device')
    .values();
  const held = rows.map(([device, entries, highest]) => {
    const ms = hlcMs(highest as bigint);
    return { device: (device as string | null) ?? '', entries: Number(entries), aheadMs: ms - wallMs, dueAt: ms - maxDriftMs };
  });
  return { maxDriftMs, ownAheadMs, ownAhead: ownAheadMs > maxDriftMs, held };
}
