/**
 * Hybrid Logical Clock (Kulkarni et al., 2014) over packed 64-bit timestamps. Pure: wall time is
 * injected, so tests can move it backwards and forwards. The database keeps the durable state
 * (see capture/triggers.ts); this class is the same algorithm for code that stamps in JS.
 */
import { ClockDriftError } from './errors.ts';
import { formatHlc, hlcMs, MAX_MS, MAX_REMOTE_MS, packHlc, parseHlc, type PackedHlc } from './timestamp.ts';

export const DEFAULT_MAX_DRIFT_MS = 5 * 60 * 1000;

export interface HybridLogicalClockOptions {
  /** Wall clock in Unix milliseconds. @default Date.now */
  now?: () => number;
  /** How far ahead of our wall clock a remote stamp may be. @default 300000 (5 minutes) */
  maxDriftMs?: number;
  /** Last timestamp issued or seen, to resume after a restart. @default 0 */
  last?: PackedHlc;
}

export class HybridLogicalClock {
  readonly maxDriftMs: number;
  private readonly wall: () => number;
  private last: PackedHlc;

  constructor(options: HybridLogicalClockOptions = {}) {
    this.wall = options.now ?? Date.now;
    this.maxDriftMs = options.maxDriftMs ?? DEFAULT_MAX_DRIFT_MS;
    this.last = options.last ?? 0n;
  }

  /** The latest timestamp issued or received. */
  get current(): PackedHlc {
    return this.last;
  }

  /** A timestamp for a local event: above every earlier one, even if the wall clock went back. */
  now(): PackedHlc {
    this.last = maxOf(this.wallPacked(), this.last + 1n);
    return this.last;
  }

  /**
   * Merges a timestamp from a peer and returns a local one above both. A counter overflow carries
   * into the milliseconds instead of failing. Throws ClockDriftError (the clock is left
   * unchanged) when the remote stamp is more than maxDriftMs ahead of our wall clock.
   */
  receive(remote: PackedHlc | string): PackedHlc {
    const packed = typeof remote === 'string' ? parseHlc(remote) : remote;
    const drift = this.driftOf(packed);
    if (drift) throw drift;
    this.last = maxOf(this.wallPacked(), this.last + 1n, packed + 1n);
    return this.last;
  }

  /**
   * The drift error a remote stamp would raise, or undefined if it is acceptable. A stamp past
   * MAX_REMOTE_MS is too far ahead whatever the allowance: the clock's next stamps need room above it.
   */
  driftOf(remote: PackedHlc): ClockDriftError | undefined {
    const wallMs = this.wallMs();
    const remoteMs = hlcMs(remote);
    const aheadMs = remoteMs - wallMs;
    return aheadMs > this.maxDriftMs || !(remoteMs <= MAX_REMOTE_MS) ? new ClockDriftError(formatHlc(remote), aheadMs, this.maxDriftMs) : undefined;
  }

  private wallMs(): number {
    const ms = Math.floor(this.wall());
    if (!Number.isFinite(ms) || ms < 0 || ms > MAX_MS) throw new RangeError(`wall clock out of range: ${ms}`);
    return ms;
  }

  private wallPacked(): PackedHlc {
    return packHlc(this.wallMs(), 0);
  }
}

/** Total order of two stamps (string or packed): negative, zero or positive. */
export function compareHlc(a: PackedHlc | string, b: PackedHlc | string): number {
  const x = typeof a === 'string' ? parseHlc(a) : a;
  const y = typeof b === 'string' ? parseHlc(b) : b;
  return x < y ? -1 : x > y ? 1 : 0;
}

function maxOf(...values: PackedHlc[]): PackedHlc {
  return values.reduce((a, b) => (b > a ? b : a));
}
