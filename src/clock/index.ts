export { ClockDriftError } from './errors.ts';
export { compareHlc, DEFAULT_MAX_DRIFT_MS, HybridLogicalClock, type HybridLogicalClockOptions } from './hybrid-logical-clock.ts';
export {
  formatHlc,
  hlcCounter,
  hlcMs,
  isHlcString,
  MAX_COUNTER,
  MAX_MS,
  packHlc,
  parseHlc,
  SQL_WALL_PACKED,
  type PackedHlc,
} from './timestamp.ts';
