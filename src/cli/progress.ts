/**
 * Progress of long syncs as people and scripts see it: a one-line bar redrawn in place at a
 * terminal (entries of how many, bytes, rate, time left), or one JSON object per progress event
 * with --json. The tracker keeps the numbers, `renderProgressLine` turns a state into the text of
 * one frame; both are pure enough to test without a terminal.
 */
import type { SyncProgressEvent } from '../sync/node/events.ts';

export interface ProgressState {
  peerId: string;
  direction: 'send' | 'receive';
  entries: number;
  bytes: number;
  /** Entries this direction will carry, when the sender said (an upper bound). */
  totalEntries: number | undefined;
  /** Since the first event of this peer and direction. */
  elapsedMs: number;
  /** Entries per second so far; undefined until time has passed. */
  entriesPerSecond: number | undefined;
  /** Time left at the rate so far; undefined without a total or a rate. */
  etaMs: number | undefined;
}

/** Numbers per peer and direction, from the node's `sync:progress` events; time is passed in. */
export class ProgressTracker {
  readonly #started = new Map<string, number>();
  readonly #now: () => number;

  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  update(event: SyncProgressEvent): ProgressState {
    const key = `${event.direction} ${event.peerId}`;
    const now = this.#now();
    // A new session restarts the counts: its rate starts again too.
    if (!this.#started.has(key) || event.entries === 0) this.#started.set(key, now);
    const elapsedMs = now - (this.#started.get(key) ?? now);
    const entriesPerSecond = elapsedMs > 0 ? (event.entries * 1000) / elapsedMs : undefined;
    const total = event.totalEntries;
    const etaMs = total !== undefined && entriesPerSecond !== undefined && entriesPerSecond > 0 ? (Math.max(0, total - event.entries) * 1000) / entriesPerSecond : undefined;
    return { peerId: event.peerId, direction: event.direction, entries: event.entries, bytes: event.bytes, totalEntries: total, elapsedMs, entriesPerSecond, etaMs };
  }
}

const BAR_CELLS = 24;

/**
 * One frame of the bar, at most `width` characters:
 * `receiving from …Ab12cd [#########...............] 312,000/600,000 entries 41.2 MB 52,000/s 6 s left`.
 */
export function renderProgressLine(state: ProgressState, width = 100): string {
  const verb = state.direction === 'receive' ? 'receiving from' : 'sending to';
  const counted = state.totalEntries === undefined ? `${count(state.entries)} entries` : `${count(state.entries)}/${count(state.totalEntries)} entries`;
  const parts = [`${verb} ${shortPeer(state.peerId)}`, bar(state), counted, formatBytes(state.bytes)];
  if (state.entriesPerSecond !== undefined) parts.push(`${count(Math.round(state.entriesPerSecond))}/s`);
  if (state.etaMs !== undefined) parts.push(`${formatDuration(state.etaMs)} left`);
  const line = parts.join(' ');
  return line.length <= width ? line : line.slice(0, Math.max(0, width - 1)) + '…';
}

/** What --json prints per progress event. */
export function progressFields(state: ProgressState): Record<string, string | number | null> {
  return {
    peerId: state.peerId,
    direction: state.direction,
    entries: state.entries,
    totalEntries: state.totalEntries ?? null,
    bytes: state.bytes,
    entriesPerSecond: state.entriesPerSecond === undefined ? null : Math.round(state.entriesPerSecond),
    etaMs: state.etaMs === undefined ? null : Math.round(state.etaMs),
  };
}

function bar(state: ProgressState): string {
  if (state.totalEntries === undefined || state.totalEntries <= 0) return `[${'?'.repeat(BAR_CELLS)}]`;
  const filled = Math.min(BAR_CELLS, Math.floor((state.entries / state.totalEntries) * BAR_CELLS));
  return `[${'#'.repeat(filled)}${'.'.repeat(BAR_CELLS - filled)}]`;
}

/** The last characters of a peer id: enough to tell devices apart on one screen. */
function shortPeer(peerId: string): string {
  return peerId.length <= 12 ? peerId : `…${peerId.slice(-8)}`;
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}

export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

export function formatDuration(ms: number): string {
  const seconds = Math.ceil(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${seconds % 60} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}
