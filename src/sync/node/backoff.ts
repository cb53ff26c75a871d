/**
 * Retry timers with exponential backoff, keyed by what is being retried (a peer, a session).
 * The node owns one; `clear()` on stop cancels every pending timer, so nothing outlives the node.
 */
import { RECONNECT_BACKOFF_FACTOR, RECONNECT_JITTER } from './constants.ts';

export interface BackoffOptions {
  initialDelayMs: number;
  maxDelayMs: number;
  /** Injected for tests; returns a number in [0, 1). @default Math.random */
  random?: () => number;
}

export class BackoffTimers {
  readonly #options: BackoffOptions;
  readonly #attempts = new Map<string, number>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  #closed = false;

  constructor(options: BackoffOptions) {
    this.#options = options;
  }

  /** Runs `task` after the next delay for `key`, unless one is already pending. Returns that delay. */
  schedule(key: string, task: () => void): number | undefined {
    if (this.#closed || this.#timers.has(key)) return undefined;
    const attempt = this.#attempts.get(key) ?? 0;
    this.#attempts.set(key, attempt + 1);
    const { initialDelayMs, maxDelayMs, random = Math.random } = this.#options;
    const base = Math.min(maxDelayMs, initialDelayMs * RECONNECT_BACKOFF_FACTOR ** attempt);
    const delay = Math.round(base * (1 - RECONNECT_JITTER + 2 * RECONNECT_JITTER * random()));
    const timer = setTimeout(() => {
      this.#timers.delete(key);
      task();
    }, delay);
    this.#timers.set(key, timer);
    return delay;
  }

  isPending(key: string): boolean {
    return this.#timers.has(key);
  }

  /** Forgets failures of `key` (it succeeded) and cancels its pending retry. */
  reset(key: string): void {
    this.#attempts.delete(key);
    const timer = this.#timers.get(key);
    if (timer !== undefined) clearTimeout(timer);
    this.#timers.delete(key);
  }

  clear(): void {
    this.#closed = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    this.#attempts.clear();
  }

  get pending(): number {
    return this.#timers.size;
  }
}
