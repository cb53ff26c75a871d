/**
 * A tab's side of the shared database, in its worker: numbers the page's requests, sends them to
 * the leader (its own worker or another tab's), and keeps each until it is answered. When the
 * leader changes, what the old one left unanswered goes to the new one: a request it had applied is
 * answered as applied (not run twice); a transaction it held open is gone (SQLite rolled it back
 * when the old leader closed), so its requests fail with `LeaderChangedError` until the app's
 * ROLLBACK, which Drizzle sends when a transaction's callback throws. The sync node ran in the old
 * leader's worker: the tab dials its last address again, and the new leader starts a node for it.
 */
import { AhenkError } from '../errors.ts';
import { WorkerError, type Answer, type Forwarded, type QueryResult, type Work } from './messages.ts';

/** The tab's open transaction was rolled back when the tab that held the database closed. */
export class LeaderChangedError extends AhenkError {
  constructor(message: string) {
    super('LEADER_CHANGED', message);
    this.name = 'LeaderChangedError';
  }
}

const ROLLBACK = /^\s*rollback\s*(transaction\s*)?;?\s*$/i;

interface Pending {
  work: Work;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

export class TabClient {
  readonly id: string;
  #seq = 0;
  /** Sent and not yet answered, in the order sent (a Map keeps insertion order). */
  readonly #unanswered = new Map<number, Pending>();
  /** The leader's last answer said this tab's transaction is open. */
  #inTransaction = false;
  /** The tab's transaction closed with the old leader; requests fail until the app rolls back. */
  #transactionLost = false;
  #send: ((request: Forwarded) => void) | undefined;
  /** The last address this tab dialled (until it stops sync): dialled again when the leader changes. */
  #dialed: string | undefined;

  constructor(id: string) {
    this.id = id;
  }

  call(work: Work): Promise<unknown> {
    if (this.#transactionLost) {
      if (work.kind === 'query' && ROLLBACK.test(work.sql)) {
        this.#transactionLost = false;
        return Promise.resolve({ rows: [] } satisfies QueryResult);
      }
      return Promise.reject(lost());
    }
    if (work.kind === 'sync' && (work.op === 'dial' || work.op === 'stop')) this.#dialed = work.op === 'dial' ? work.address : undefined;
    const seq = ++this.#seq;
    return new Promise((resolve, reject) => {
      this.#unanswered.set(seq, { work, resolve, reject });
      this.#send?.({ seq, first: this.#first(), work, check: false });
    });
  }

  /** A leader took over (or this tab first learns where to send): what is unanswered goes to it. */
  connect(send: (request: Forwarded) => void): void {
    this.#send = send;
    const check = this.#inTransaction;
    if (check) {
      this.#inTransaction = false;
      this.#transactionLost = true;
    }
    const first = this.#first();
    for (const [seq, pending] of this.#unanswered) send({ seq, first, work: pending.work, check });
    const address = this.#dialed;
    if (address !== undefined && ![...this.#unanswered.values()].some(({ work }) => work.kind === 'sync' && work.op === 'dial')) {
      // Nobody waits for this answer: the page learns of the connection by the node's events.
      this.call({ kind: 'sync', op: 'dial', address }).catch(() => {});
    }
  }

  /** The oldest request without an answer (a Map keeps the order sent). */
  #first(): number {
    return this.#unanswered.keys().next().value ?? this.#seq + 1;
  }

  answer(seq: number, answer: Answer): void {
    const pending = this.#unanswered.get(seq);
    if (pending === undefined) return;
    this.#unanswered.delete(seq);
    switch (answer.status) {
      case 'ok':
        this.#inTransaction = answer.inTransaction;
        pending.resolve(answer.value);
        return;
      case 'error':
        this.#inTransaction = answer.inTransaction;
        pending.reject(new WorkerError(answer.error));
        return;
      case 'applied': {
        // It committed (a COMMIT among them ended the transaction); only its answer was lost.
        this.#transactionLost = false;
        const value = appliedValue(pending.work);
        if (value === undefined) pending.reject(new LeaderChangedError('the request was applied, but its result was lost when the tab holding the database closed'));
        else pending.resolve(value);
        return;
      }
      case 'not-applied':
        pending.reject(lost());
    }
  }
}

function lost(): LeaderChangedError {
  return new LeaderChangedError('the transaction was rolled back: the tab holding the database closed before it committed');
}

/** What a statement run for its effect answers (no rows); a request that returned rows cannot be answered again. */
function appliedValue(work: Work): unknown {
  if (work.kind === 'query' && work.method === 'run') return { rows: [] } satisfies QueryResult;
  if (work.kind === 'batch' && work.queries.every((query) => query.method === 'run')) return work.queries.map(() => ({ rows: [] }) satisfies QueryResult);
  return undefined;
}
