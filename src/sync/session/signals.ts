/** Small waiting primitives of the session; every wait takes an AbortSignal, nothing waits forever. */

/** A value that is set once; waiters can give up through their signal. */
export class Latch<T> {
  settled = false;
  readonly promise: Promise<T>;
  private resolveFn!: (value: T) => void;
  private rejectFn!: (reason: unknown) => void;

  constructor() {
    this.promise = new Promise<T>((resolve, reject) => {
      this.resolveFn = resolve;
      this.rejectFn = reject;
    });
    // Nobody may be waiting when it fails; that is not an unhandled rejection.
    this.promise.catch(() => undefined);
  }

  resolve(value: T): void {
    if (this.settled) return;
    this.settled = true;
    this.resolveFn(value);
  }

  reject(reason: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.rejectFn(reason);
  }

  wait(signal: AbortSignal): Promise<T> {
    return untilAborted(this.promise, signal);
  }
}

/** Wakes every current waiter on notify(). */
export class Notifier {
  private waiters: (() => void)[] = [];

  notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  wait(signal: AbortSignal): Promise<void> {
    return untilAborted(new Promise<void>((resolve) => this.waiters.push(resolve)), signal);
  }
}

export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** Lets a timer not keep Node's event loop alive; a no-op where timers are numbers (a browser). */
export function unrefTimer<T>(timer: T): T {
  (timer as { unref?: () => void }).unref?.();
  return timer;
}

/** Runs `task` once the event loop has handled what is pending (setImmediate on Node, a zero timeout in a browser); returns its cancel. */
export function afterPending(task: () => void): () => void {
  if (typeof setImmediate === 'function') {
    const handle = setImmediate(task);
    return () => clearImmediate(handle);
  }
  const handle = setTimeout(task, 0);
  return () => clearTimeout(handle);
}

/** Whether `promise` settled (either way) within `ms`; the timer never outlives the wait. */
export async function settleWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
