/**
 * One database for every tab of an origin. Each tab's worker asks for a Web Lock named after the
 * database; the one that gets it (the leader) opens the database and serves every tab, the others
 * wait in the lock's queue and send their requests over a BroadcastChannel of the same name. When
 * the leader's tab closes, its lock goes to the next worker in the queue, which opens the database
 * and says so; every tab then sends it what the old leader left unanswered (leader.ts and
 * tab-client.ts say why that neither loses nor repeats a write).
 *
 * The sync node runs in the leader's worker, beside the database it reads and writes (sync.ts): a
 * tab's sync request goes to the leader as its queries do, and the node's events go to every tab.
 *
 * Each worker also holds a lock of its own for its lifetime, so the leader learns when a tab is
 * gone (it is granted that lock): it rolls back a transaction the tab left open and forgets the tab.
 */
import type { AhenkDatabase } from '../database/initialize.ts';
import type { WebSyncConfig } from '../sync/web/index.ts';
import { DatabaseLeader, failedLeader, type Leader } from './leader.ts';
import { isAnswer, isWork, type Forwarded, type TabMessage } from './messages.ts';
import { WORKER_EVENT_NAMES, type SyncEventMessage } from './sync-messages.ts';
import { WorkerSync } from './sync.ts';
import { TabClient } from './tab-client.ts';

/** The parts of the Web Locks API used here (the Node type check has no DOM library). */
interface LockManager {
  request(name: string, callback: () => Promise<unknown> | unknown): Promise<unknown>;
  query(): Promise<{ held?: { name?: string }[]; pending?: { name?: string }[] }>;
}

interface Channel {
  postMessage(message: unknown): void;
  onmessage: ((event: { data: unknown }) => void) | null;
  close(): void;
}

export interface SharedDatabase {
  /** This tab's client: every request of the page goes through it. */
  readonly client: TabClient;
  /** Stops answering other tabs and, if this tab leads, stops the sync node and closes the database. */
  close(): Promise<void>;
}

export interface ShareOptions {
  /** The sync node's settings, if this tab comes to lead. */
  sync?: WebSyncConfig;
  /** Takes the sync node's events, wherever the node runs. */
  onSyncEvent(message: SyncEventMessage): void;
}

const forever = () => new Promise<never>(() => {});

/**
 * Joins the tabs that share database `name`. `open` runs if and when this tab becomes the leader.
 * Without Web Locks (an old browser) this tab opens the database itself, as one tab at a time.
 */
export function shareDatabase(name: string, open: () => Promise<AhenkDatabase<Record<string, unknown>>>, options: ShareOptions): SharedDatabase {
  const client = new TabClient(crypto.randomUUID());
  const locks = (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks;
  const channel: Channel = new BroadcastChannel(name) as unknown as Channel;
  const clientLock = (id: string) => `${name}#tab:${id}`;
  let leader: Leader | undefined;
  let database: AhenkDatabase<Record<string, unknown>> | undefined;
  let sync: WorkerSync | undefined;
  let closed = false;
  /**
   * This tab holds its own lock. Until then it sends nothing, even on hearing a leader: a leader
   * watching it would take it as gone, and taking the lock then connects again, which, had a
   * transaction opened meanwhile, would take that transaction as closed with an old leader.
   */
  let joined = false;

  channel.onmessage = (event) => {
    const message = event.data as TabMessage;
    if (closed || typeof message !== 'object' || message === null) return;
    if (message.kind === 'leader' && leader === undefined) {
      if (joined) client.connect(forward);
    }
    else if (message.kind === 'request' && leader !== undefined && typeof message.client === 'string' && Number.isSafeInteger(message.seq) && Number.isSafeInteger(message.first) && isWork(message.work)) {
      const from = message.client;
      leader.submit({ client: from, seq: message.seq, first: message.first, work: message.work, check: message.check === true, reply: (answer) => channel.postMessage({ kind: 'answer', client: from, seq: message.seq, answer } satisfies TabMessage) });
    } else if (message.kind === 'answer' && message.client === client.id && Number.isSafeInteger(message.seq) && isAnswer(message.answer)) client.answer(message.seq, message.answer);
    else if (message.kind === 'sync-event' && typeof message.name === 'string' && WORKER_EVENT_NAMES.includes(message.name)) options.onSyncEvent(message);
  };
  const forward = (request: Forwarded) => channel.postMessage({ kind: 'request', client: client.id, ...request } satisfies TabMessage);

  const lead = async () => {
    try {
      database = await open();
      const opened: DatabaseLeader = new DatabaseLeader(
        database,
        (id) => void locks?.request(clientLock(id), () => opened.clientGone(id)),
        (work) => node.answer(work),
      );
      // The node takes its turns on the connection from the leader: never inside a tab's transaction.
      const node = (sync = new WorkerSync(database, { ...options.sync, databaseTurn: opened }, (message) => {
        channel.postMessage(message);
        options.onSyncEvent(message);
      }));
      if (locks !== undefined) {
        const state = await locks.query();
        const alive = [...(state.held ?? []), ...(state.pending ?? [])].flatMap((lock) => (lock.name?.startsWith(`${name}#tab:`) ? [lock.name.slice(name.length + 5)] : []));
        opened.forgetOtherClients(alive);
      }
      leader = opened;
    } catch (error) {
      leader = failedLeader(error);
    }
    if (closed) return;
    channel.postMessage({ kind: 'leader' } satisfies TabMessage);
    client.connect((request) => leader!.submit({ client: client.id, ...request, reply: (answer) => client.answer(request.seq, answer) }));
  };

  if (locks === undefined) void lead();
  else {
    // This tab's own lock first: until it holds it, a leader watching it would take it as gone.
    void locks.request(clientLock(client.id), () => {
      joined = true;
      client.connect(forward);
      void locks.request(name, async () => {
        await lead();
        return forever();
      });
      return forever();
    });
  }

  return {
    client,
    async close() {
      closed = true;
      await sync?.stop(); // its last events still go out
      channel.close();
      database?.$connection.close();
    },
  };
}
