/**
 * The leader: the one worker of an origin that holds the database (the SAH pool holds its files
 * exclusively), serving every tab's requests. Two rules make that safe:
 *
 * - A transaction is one tab's alone. sqlite-proxy sends BEGIN, each statement and COMMIT as
 *   separate requests; while a tab's transaction is open, other tabs' requests wait in the queue
 *   (in their order), so none of them lands inside it or is rolled back with it. When the tab that
 *   owns it goes away (its worker's lock is released), the leader rolls it back.
 * - A write is applied once. Each tab numbers its requests; the leader records the number of a
 *   tab's last committed write in the same transaction as the write (`ahenk_tab_requests`), so a
 *   tab that sends a request again after the leader changed learns it was already applied instead
 *   of writing it twice.
 *
 * The sync node in the same worker shares the connection: it applies a batch, or exports a window,
 * only in its turn (`free()`/`wait()`, a DatabaseTurn), when no tab's transaction is open. A
 * waiting session gets its turn as soon as one ends, before the next tab's transaction begins.
 */
import { getOplogEntriesSince } from '../database/exchange.ts';
import { getDeviceId } from '../database/identity.ts';
import type { AhenkDatabase } from '../database/initialize.ts';
import { merge } from '../merge/merge.ts';
import type { SqlValue } from '../sqlite/index.ts';
import type { DatabaseTurn } from '../sync/session/turn.ts';
import { remoteError, type Answer, type Forwarded, type Query, type QueryResult, type SyncWork, type Work } from './messages.ts';

/** One request at the leader, with the way back to the tab that sent it. */
export interface LeaderItem extends Forwarded {
  client: string;
  reply(answer: Answer): void;
}

export interface Leader {
  submit(item: LeaderItem): void;
}

type Database = AhenkDatabase<Record<string, unknown>>;

const REQUESTS_TABLE = `CREATE TABLE IF NOT EXISTS ahenk_tab_requests (client TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID`;

/**
 * Statements the leader does not wrap: those that open or end a transaction (or a savepoint), and
 * those SQLite refuses or ignores inside one (VACUUM, ATTACH; `PRAGMA foreign_keys` is a no-op there).
 */
const UNWRAPPED = /^\s*(begin|savepoint|commit|end|release|rollback|pragma|vacuum|attach|detach)\b/i;
/** A statement that may commit the tab's transaction: its request number goes in first. */
const ENDS = /^\s*(commit|end|release)\b/i;

export class DatabaseLeader implements Leader, DatabaseTurn {
  readonly #db: Database;
  readonly #watch: (client: string) => void;
  readonly #sync: ((work: SyncWork) => Promise<unknown>) | undefined;
  readonly #queue: LeaderItem[] = [];
  /**
   * The highest number taken from each tab. A leader takes each tab's requests in order only: the
   * first it hears from a tab must be that tab's oldest unanswered one, then each the next. A request
   * that overtook older ones (sent while this leader was opening, as the older ones were, but heard
   * after it was up) is dropped: the tab sends them all again, in order, when it hears this leader
   * announce itself.
   */
  readonly #received = new Map<string, number>();
  readonly #watched = new Set<string>();
  /** Tabs that are gone, whose request numbers are yet to be deleted. */
  readonly #gone = new Set<string>();
  /** The tab whose transaction is open; only its requests run until it ends. */
  #owner: string | undefined;
  #draining = false;
  /** Sync sessions waiting for their turn on the connection. */
  readonly #turnWaiters = new Set<() => void>();
  /** The queue waits one turn of the event loop: a session that waited is applying (or exporting). */
  #paused = false;

  /**
   * `watch(client)` calls `clientGone(client)` once that tab's worker has ended; `sync` answers the
   * tabs' sync requests (the sync node, sync.ts).
   */
  constructor(db: Database, watch: (client: string) => void, sync?: (work: SyncWork) => Promise<unknown>) {
    this.#db = db;
    this.#watch = watch;
    this.#sync = sync;
    db.$connection.exec(REQUESTS_TABLE);
  }

  /** Forgets the request numbers of tabs that are gone (called when a leader starts, with the tabs alive). */
  forgetOtherClients(alive: readonly string[]): void {
    this.#db.$connection.prepare(`DELETE FROM ahenk_tab_requests WHERE client NOT IN (SELECT value FROM json_each(?))`).run(JSON.stringify(alive));
  }

  submit(item: LeaderItem): void {
    const last = this.#received.get(item.client);
    if (item.seq !== (last === undefined ? item.first : last + 1)) return; // sent again (already queued or answered), or ahead of older ones
    this.#received.set(item.client, item.seq);
    this.#watchClient(item.client);
    if (item.work.kind === 'sync') this.#runSync(item, item.work);
    else {
      this.#queue.push(item);
      this.#drain();
    }
  }

  /** A sync request takes network time and touches no tab's transaction: answered when done, while the queue goes on. */
  #runSync(item: LeaderItem, work: SyncWork): void {
    const done = this.#sync === undefined ? Promise.reject(new TypeError('this database has no sync node')) : this.#sync(work);
    done.then(
      (value) => item.reply({ status: 'ok', value, inTransaction: this.#owner === item.client }),
      (error: unknown) => item.reply({ status: 'error', error: remoteError(error), inTransaction: this.#owner === item.client }),
    );
  }

  /**
   * A tab's worker ended: a transaction it left open is rolled back, the others' requests run, and
   * its request number is forgotten (kept until no other tab's transaction is open, so as not to
   * become part of it).
   */
  clientGone(client: string): void {
    this.#watched.delete(client);
    this.#received.delete(client);
    this.#gone.add(client);
    for (let i = this.#queue.length - 1; i >= 0; i--) if (this.#queue[i]!.client === client) this.#queue.splice(i, 1);
    if (this.#owner === client) {
      if (this.#db.$connection.inTransaction) this.#db.$connection.exec('ROLLBACK');
      this.#owner = undefined;
    }
    this.#drain();
  }

  /** No tab's transaction is open: the sync node may use the connection now (in the same continuation). */
  free(): boolean {
    return this.#owner === undefined && !this.#db.$connection.inTransaction;
  }

  /** Resolves once no tab's transaction is open (at once if none is), before the next one may begin. */
  wait(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.free()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.#turnWaiters.delete(wake);
        reject(signal.reason);
      };
      const wake = (): void => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      this.#turnWaiters.add(wake);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Wakes the waiting sessions. Their continuations run before any task does, so each finds the
   * connection free; the queue goes on a task later, so a tab's next BEGIN cannot get in first.
   */
  #giveTurn(): void {
    const waiters = [...this.#turnWaiters];
    this.#turnWaiters.clear();
    for (const wake of waiters) wake();
    if (this.#queue.length === 0) return;
    this.#paused = true;
    setTimeout(() => {
      this.#paused = false;
      this.#drain();
    }, 0);
  }

  /** Every tab served is watched, so that what the leader keeps for it goes when the tab does. */
  #watchClient(client: string): void {
    if (this.#watched.has(client)) return;
    this.#watched.add(client);
    this.#watch(client);
  }

  #forgetGone(): void {
    if (this.#gone.size === 0 || this.#db.$connection.inTransaction) return;
    const forget = this.#db.$connection.cached(`DELETE FROM ahenk_tab_requests WHERE client = ?`);
    for (const client of this.#gone) forget.run(client);
    this.#gone.clear();
  }

  #drain(): void {
    if (this.#draining || this.#paused) return;
    this.#draining = true;
    try {
      for (;;) {
        this.#forgetGone();
        if (this.#turnWaiters.size > 0 && this.free()) return this.#giveTurn();
        const index = this.#owner === undefined ? (this.#queue.length > 0 ? 0 : -1) : this.#queue.findIndex((item) => item.client === this.#owner);
        if (index < 0) return;
        const [item] = this.#queue.splice(index, 1);
        item!.reply(this.#run(item!));
      }
    } finally {
      this.#draining = false;
    }
  }

  #run(item: LeaderItem): Answer {
    const connection = this.#db.$connection;
    if (item.seq <= this.#appliedUpTo(item.client)) return { status: 'applied' };
    if (item.check) return { status: 'not-applied' };
    const sql = item.work.kind === 'query' ? item.work.sql : '';
    let answer: Answer;
    if (connection.inTransaction || UNWRAPPED.test(sql)) {
      // Inside this tab's own transaction (or opening or ending one, or a statement that must run
      // outside one): run as sent. Before a statement that may commit the tab's transaction, the
      // request number goes in with it.
      if (connection.inTransaction && ENDS.test(sql)) this.#recordApplied(item);
      answer = this.#attempt(item.work);
    } else {
      // A request on its own: wrapped, so its write and its number commit together.
      connection.exec('BEGIN');
      const before = this.#changeCount();
      answer = this.#attempt(item.work);
      if (connection.inTransaction) {
        if (answer.status === 'ok' && this.#changeCount() !== before) this.#recordApplied(item);
        connection.exec(answer.status === 'ok' ? 'COMMIT' : 'ROLLBACK');
      }
    }
    this.#owner = connection.inTransaction ? item.client : undefined;
    return answer.status === 'ok' || answer.status === 'error' ? { ...answer, inTransaction: connection.inTransaction } : answer;
  }

  #attempt(work: Work): Answer {
    try {
      return { status: 'ok', value: answer(this.#db, work), inTransaction: false };
    } catch (error) {
      return { status: 'error', error: remoteError(error), inTransaction: false };
    }
  }

  /** Rows changed and schema changes so far on this connection: a request that moved either wrote. */
  #changeCount(): string {
    const row = this.#db.$connection.cached(`SELECT total_changes(), (SELECT schema_version FROM pragma_schema_version)`).getValues();
    return String(row);
  }

  #appliedUpTo(client: string): number {
    const seq = this.#db.$connection.cached(`SELECT seq FROM ahenk_tab_requests WHERE client = ?`, { integers: 'number' }).value(client);
    return typeof seq === 'number' ? seq : 0;
  }

  #recordApplied(item: LeaderItem): void {
    this.#db.$connection
      .cached(`INSERT INTO ahenk_tab_requests (client, seq) VALUES (?, ?) ON CONFLICT (client) DO UPDATE SET seq = excluded.seq`)
      .run(item.client, BigInt(item.seq));
  }
}

/** A leader whose database did not open: every request gets that error. */
export function failedLeader(error: unknown): Leader {
  const remote = remoteError(error);
  return { submit: (item) => item.reply({ status: 'error', error: remote, inTransaction: false }) };
}

/** Runs one request on the database. */
export function answer(db: Database, work: Work): unknown {
  switch (work.kind) {
    case 'query':
      return runQuery(db, work);
    case 'batch':
      return db.$connection.transaction(() => work.queries.map((query) => runQuery(db, query)));
    case 'export':
      return getOplogEntriesSince(db, work.since, work.limit === undefined ? {} : { limit: work.limit });
    case 'merge': {
      const result = merge(db, work.entries);
      return { ...result, errors: result.errors.map(remoteError) };
    }
    case 'device':
      return getDeviceId(db);
    default:
      throw new TypeError(`unknown request ${JSON.stringify((work as { kind?: unknown }).kind)}`);
  }
}

/** One Drizzle query, answered as sqlite-proxy expects (app columns read integers as numbers, as on Node). */
function runQuery(db: Database, query: Query): QueryResult {
  const statement = db.$connection.cached(query.sql, { integers: 'number' });
  const params = query.params as SqlValue[];
  switch (query.method) {
    case 'run':
      statement.run(...params);
      return { rows: [] };
    case 'get':
      return { rows: statement.getValues(...params) };
    default:
      return { rows: statement.values(...params) };
  }
}
