// The leader and the tab client without a browser (the same classes the workers run, over a
// database file on Node): a leader that closes after committing a write but before answering, a
// transaction that closes with its leader, one tab's transaction keeping the others' requests out,
// and sync requests (to a stand-in for the sync node, which needs a browser: test/browser/sync.test.ts).
import { describe, expect, it } from 'vitest';
import { DatabaseLeader } from '../../src/browser/leader.ts';
import type { Forwarded, SyncWork, Work } from '../../src/browser/messages.ts';
import { TabClient } from '../../src/browser/tab-client.ts';
import { initializeDatabase, type AhenkDatabase } from '../../src/index.ts';
import { openDevice } from '../helpers/db.ts';
import { schema } from '../helpers/schema.ts';

type Database = AhenkDatabase<Record<string, unknown>>;

const run = (sql: string, ...params: (string | number)[]): Work => ({ kind: 'query', sql, params, method: 'run' });
const insert = (id: string): Work => run('INSERT INTO todos (id, title) VALUES (?, ?)', id, 'x');

/** A leader over `db`; `answers` false makes it a leader that closes before its answers get out. */
function leaderOver(db: Database, gone: string[] = [], sync?: (work: SyncWork) => Promise<unknown>) {
  const leader = new DatabaseLeader(db, (client) => gone.push(client), sync);
  const connect = (client: TabClient, answers = true) =>
    client.connect((request) => leader.submit({ client: client.id, ...request, reply: (answer) => answers && client.answer(request.seq, answer) }));
  return { leader, connect };
}

/** A leader over a fresh database, serving two tabs; `gone` lists the tabs it watches. */
function twoTabs() {
  const db = openDevice('shared');
  const gone: string[] = [];
  const { leader, connect } = leaderOver(db, gone);
  const [one, two] = [new TabClient('tab-1'), new TabClient('tab-2')];
  connect(one);
  connect(two);
  return { db, gone, leader, one, two };
}

const count = (db: Database, sql: string, ...params: string[]) => db.$connection.prepare(sql).value(...params);
const settled = async (promise: Promise<unknown>) => {
  let done = false;
  void promise.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((resolve) => setTimeout(resolve, 20));
  return done;
};

describe('the leader of the tabs, and a tab after the leader changed', () => {
  it('answers a write the old leader committed but never answered as applied, and does not write it again', async () => {
    const first = openDevice('shared');
    const client = new TabClient('tab-1');
    leaderOver(first).connect(client, false);
    const single = client.call(insert('alone'));
    const begin = client.call(run('BEGIN'));
    const inside = client.call(insert('in-transaction'));
    const commit = client.call(run('COMMIT'));
    expect(await settled(Promise.race([single, begin, inside, commit]))).toBe(false);
    first.$connection.close();

    const second = initializeDatabase(first.path, { schema }) as Database;
    try {
      leaderOver(second).connect(client);
      expect(await Promise.all([single, begin, inside, commit])).toEqual([{ rows: [] }, { rows: [] }, { rows: [] }, { rows: [] }]);
      expect(count(second, `SELECT count(*) FROM todos`)).toBe(2n);
      expect(count(second, `SELECT count(*) FROM ahenk_oplog`)).toBe(2n);
      // From then on the new leader answers.
      expect(await client.call({ kind: 'query', sql: 'SELECT id FROM todos ORDER BY id', params: [], method: 'values' })).toEqual({ rows: [['alone'], ['in-transaction']] });
    } finally {
      second.$connection.close();
    }
  });

  it('fails the rest of a transaction that closed with its leader until the app rolls back, and writes none of it', async () => {
    const first = openDevice('shared');
    const client = new TabClient('tab-1');
    leaderOver(first).connect(client);
    await client.call(run('BEGIN'));
    await client.call(insert('lost-1'));
    first.$connection.close(); // SQLite rolls the open transaction back

    const second = initializeDatabase(first.path, { schema }) as Database;
    try {
      leaderOver(second).connect(client);
      await expect(client.call(insert('lost-2'))).rejects.toMatchObject({ name: 'LeaderChangedError', code: 'LEADER_CHANGED' });
      await expect(client.call(run('COMMIT'))).rejects.toMatchObject({ name: 'LeaderChangedError' });
      expect(await client.call(run('rollback'))).toEqual({ rows: [] });
      await client.call(insert('after'));
      expect(second.$connection.prepare(`SELECT id FROM todos`).values()).toEqual([['after']]);
    } finally {
      second.$connection.close();
    }
  });

  it('runs a pragma as sent, not inside a transaction of its own (where foreign_keys would be a no-op)', async () => {
    const db = openDevice('shared');
    const client = new TabClient('tab-1');
    leaderOver(db).connect(client);
    const foreignKeys = () => client.call({ kind: 'query', sql: 'PRAGMA foreign_keys', params: [], method: 'values' });
    const before = ((await foreignKeys()) as { rows: number[][] }).rows[0]![0]!;
    await client.call(run(`PRAGMA foreign_keys = ${before === 1 ? 'OFF' : 'ON'}`));
    expect(await foreignKeys()).toEqual({ rows: [[1 - before]] });
  });

  it("keeps other tabs' requests out of a tab's transaction, and rolls it back when that tab is gone", async () => {
    const { db, gone, leader, one, two } = twoTabs();

    await one.call(run('BEGIN'));
    await one.call(insert('one-1'));
    const waiting = two.call(insert('two-1'));
    expect(await settled(waiting)).toBe(false);
    await one.call(insert('one-2'));
    await one.call(run('ROLLBACK'));
    await waiting;
    expect(db.$connection.prepare(`SELECT id FROM todos`).values()).toEqual([['two-1']]);

    await one.call(run('BEGIN'));
    await one.call(insert('one-3'));
    expect(gone).toContain('tab-1'); // the leader watches the tab that holds a transaction
    const next = two.call(insert('two-2'));
    expect(await settled(next)).toBe(false);
    leader.clientGone('tab-1');
    await next;
    expect(db.$connection.prepare(`SELECT id FROM todos ORDER BY id`).values()).toEqual([['two-1'], ['two-2']]);
  });

  it('runs the requests a tab sent while no leader listened, in order, though a newer one reached the new leader first', async () => {
    const db = openDevice('shared');
    const client = new TabClient('tab-1');
    const leader = new DatabaseLeader(db, () => {});
    const toLeader = (request: Forwarded) => leader.submit({ client: client.id, ...request, reply: (answer) => client.answer(request.seq, answer) });
    // No leader yet (the new one is still opening the database): what the tab sends goes nowhere.
    const lost: Forwarded[] = [];
    client.connect((request) => lost.push(request));
    const first = client.call(insert('a'));
    const second = client.call(insert('b'));
    // The leader is up; the tab's next request reaches it before the tab hears it announced.
    const third = client.call(insert('c'));
    toLeader(lost.at(-1)!);
    // The announcement: the tab sends again all it has no answer for.
    client.connect(toLeader);
    expect(await settled(Promise.all([first, second, third]))).toBe(true);
    expect(db.$connection.prepare(`SELECT id FROM todos ORDER BY rowid`).values()).toEqual([['a'], ['b'], ['c']]);
  });

  it('forgets a tab that is gone: its request number, once no transaction is open', async () => {
    const { db, gone, leader, one, two } = twoTabs();
    await one.call(insert('one-1'));
    await two.call(insert('two-1'));
    const tabs = () => db.$connection.prepare(`SELECT client FROM ahenk_tab_requests ORDER BY client`).values();
    expect(tabs()).toEqual([['tab-1'], ['tab-2']]);
    // The leader watches every tab it serves (a tab that never opened a transaction included).
    expect(gone.toSorted()).toEqual(['tab-1', 'tab-2']);
    await two.call(run('BEGIN'));
    leader.clientGone('tab-1'); // while tab-2's transaction is open: not written into it
    await two.call(run('ROLLBACK'));
    expect(tabs()).toEqual([['tab-2']]);
  });

  it("answers a sync request while another tab's transaction holds the queue, and a tab dials its last address again at a new leader", async () => {
    const db = openDevice('shared');
    const dialled: string[] = [];
    const node = (work: SyncWork) => {
      if (work.op === 'dial') dialled.push(work.address);
      return Promise.resolve(work.op === 'dial' ? 'the-peer' : null);
    };
    const first = leaderOver(db, [], node);
    const [one, two] = [new TabClient('tab-1'), new TabClient('tab-2')];
    first.connect(one);
    first.connect(two);
    await two.call(run('BEGIN'));
    expect(await one.call({ kind: 'sync', op: 'dial', address: '/ip4/127.0.0.1/tcp/1/ws' })).toBe('the-peer');
    await two.call(run('ROLLBACK'));

    // A new leader has no sync node: the tab dials again, and only its last address.
    leaderOver(db, [], node).connect(one);
    await settled(Promise.resolve());
    expect(dialled).toEqual(['/ip4/127.0.0.1/tcp/1/ws', '/ip4/127.0.0.1/tcp/1/ws']);
    // After stop, a leader change dials nothing.
    await one.call({ kind: 'sync', op: 'stop' });
    leaderOver(db, [], node).connect(one);
    await settled(Promise.resolve());
    expect(dialled).toHaveLength(2);
    // A leader without a sync node says so.
    leaderOver(db).connect(two);
    await expect(two.call({ kind: 'sync', op: 'peers' })).rejects.toThrow('this database has no sync node');
  });
});
