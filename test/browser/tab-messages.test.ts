// What another script of the origin can post on the tabs' BroadcastChannel: the leader's tab
// (shareDatabase on Node: BroadcastChannel is there, Web Locks are not, so it leads at once) checks
// every message before use. A malformed request must not stop the requests queued behind it, and a
// malformed answer must not take a pending request away unanswered.
import { afterEach, describe, expect, it } from 'vitest';
import type { Answer, TabMessage, Work } from '../../src/browser/messages.ts';
import { shareDatabase, type SharedDatabase } from '../../src/browser/tabs.ts';
import type { AhenkDatabase } from '../../src/index.ts';
import { openDevice } from '../helpers/db.ts';

const run = (sql: string, ...params: string[]): Work => ({ kind: 'query', sql, params, method: 'run' });
const insert = (id: string): Work => run('INSERT INTO todos (id, title) VALUES (?, ?)', id, 'x');

const open: (SharedDatabase | BroadcastChannel)[] = [];
afterEach(() => {
  while (open.length > 0) open.pop()!.close();
});

/** The leading tab over a fresh database, and a channel of another script of the origin with the answers it hears. */
async function leaderAndChannel(name: string) {
  const db = openDevice('shared');
  const shared = shareDatabase(name, () => Promise.resolve(db as unknown as AhenkDatabase<Record<string, unknown>>), { onSyncEvent: () => {} });
  open.push(shared);
  await shared.client.call({ kind: 'device' });
  const channel = new BroadcastChannel(name);
  open.push(channel);
  const answers = new Map<string, Answer>();
  channel.onmessage = (event: MessageEvent<TabMessage>) => {
    if (event.data.kind === 'answer') answers.set(`${event.data.client}:${event.data.seq}`, event.data.answer);
  };
  const answered = async (client: string, seq: number, waitMs = 5000) => {
    for (let waited = 0; waited < waitMs && !answers.has(`${client}:${seq}`); waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
    return answers.get(`${client}:${seq}`);
  };
  const request = (client: string, seq: number, work: unknown) => channel.postMessage({ kind: 'request', client, seq, first: seq, work, check: false });
  return { db, shared, channel, answered, request };
}

const pause = () => new Promise((resolve) => setTimeout(resolve, 50));

describe('messages on the tabs channel', () => {
  it('drops a malformed request; the requests queued behind it still run', async () => {
    const { db, answered, request } = await leaderAndChannel('ahenk:test:malformed-request');
    request('tab-2', 1, run('BEGIN'));
    expect(await answered('tab-2', 1)).toMatchObject({ status: 'ok', inTransaction: true });
    request('rogue', 1, null);
    request('rogue-2', 1, { kind: 'query', sql: 'SELECT 1', params: 'not a list', method: 'values' });
    request('tab-3', 1, insert('three'));
    await pause();
    request('tab-2', 2, run('ROLLBACK'));
    expect(await answered('tab-2', 2)).toMatchObject({ status: 'ok', inTransaction: false });
    expect(await answered('tab-3', 1)).toMatchObject({ status: 'ok' });
    expect(db.$connection.prepare(`SELECT id FROM todos`).values()).toEqual([['three']]);
  });

  it('drops a malformed sync request; a well-formed one reaches the leader', async () => {
    const { answered, request } = await leaderAndChannel('ahenk:test:malformed-sync');
    request('rogue', 1, { kind: 'sync', op: 'dial', address: 42 });
    request('rogue-2', 1, { kind: 'sync', op: 'dial', address: `/ip4/127.0.0.1/tcp/1/ws/p2p/${'x'.repeat(5000)}` });
    request('rogue-3', 1, { kind: 'sync', op: 'format-disk' });
    request('rogue-4', 1, { kind: 'sync', op: 'join', code: `ahenk-pair:1:${'x'.repeat(3000)}`, deviceType: 'browser', pairing: 'p' });
    request('rogue-5', 1, { kind: 'sync', op: 'join', code: 'ABCDE-FGHJK', deviceType: 'browser', from: 7, pairing: 'p' });
    request('rogue-6', 1, { kind: 'sync', op: 'confirm', pairing: 'p', same: 'yes' });
    request('rogue-7', 1, { kind: 'sync', op: 'invite', relay: `/ip4/127.0.0.1/tcp/1/ws/p2p/${'x'.repeat(5000)}`, deviceType: 'browser' });
    request('rogue-8', 1, { kind: 'sync', op: 'invite', relay: '/ip4/127.0.0.1/tcp/1/ws', deviceType: 'browser', ttlMs: 1.5 });
    request('rogue-9', 1, { kind: 'sync', op: 'invite', relay: '/ip4/127.0.0.1/tcp/1/ws', relayToken: 'x'.repeat(100), deviceType: 'browser' });
    request('rogue-10', 1, { kind: 'sync', op: 'invited', invitation: { id: 1 } });
    request('rogue-11', 1, { kind: 'sync', op: 'uninvite', invitation: 'y'.repeat(100) });
    request('tab-4', 1, { kind: 'sync', op: 'peers' });
    expect(await answered('tab-4', 1)).toEqual({ status: 'ok', value: [], inTransaction: false });
    // A well-formed pairing request reaches the leader, whose pairing checks the code itself.
    request('tab-5', 1, { kind: 'sync', op: 'join', code: 'not a code', deviceType: 'browser', pairing: 'p' });
    expect(await answered('tab-5', 1)).toMatchObject({ status: 'error', error: { name: 'PairingError', code: 'INVALID_QR' } });
    // So does a well-formed invitation request, whose relay the leader checks (it must name the relay's id).
    request('tab-6', 1, { kind: 'sync', op: 'invite', relay: '/ip4/127.0.0.1/tcp/1/ws', deviceType: 'browser' });
    expect(await answered('tab-6', 1)).toMatchObject({ status: 'error', error: { name: 'PairingError', code: 'INVALID_QR' } });
    request('tab-7', 1, { kind: 'sync', op: 'invited', invitation: 'none' });
    expect(await answered('tab-7', 1)).toMatchObject({ status: 'error', error: { name: 'PairingError', code: 'CANCELLED' } });
    await pause();
    for (const rogue of ['rogue', 'rogue-2', 'rogue-3', 'rogue-4', 'rogue-5', 'rogue-6', 'rogue-7', 'rogue-8', 'rogue-9', 'rogue-10', 'rogue-11']) expect(await answered(rogue, 1, 0)).toBeUndefined();
  });

  it('ignores a malformed answer: the request it names is still answered by the leader', async () => {
    const { shared, channel, answered, request } = await leaderAndChannel('ahenk:test:malformed-answer');
    request('tab-2', 1, run('BEGIN'));
    expect(await answered('tab-2', 1)).toMatchObject({ status: 'ok', inTransaction: true });
    const waiting = shared.client.call(insert('mine')); // waits for tab-2's transaction
    channel.postMessage({ kind: 'answer', client: shared.client.id, seq: 2, answer: { status: 'bogus' } });
    await pause();
    request('tab-2', 2, run('ROLLBACK'));
    await answered('tab-2', 2);
    let done = false;
    void waiting.then(() => (done = true));
    await pause();
    expect(done).toBe(true);
  });

  it("a tab that hears a leader before it holds its own lock keeps its transaction when the lock comes", async () => {
    // Node 20 has no Web Locks: a lock manager whose grants the test gives by hand (the tab's own
    // lock late, the database's never: this tab follows; the test's channel is the leader).
    const grants = new Map<string, () => void>();
    const locks = {
      request: (lockName: string, callback: () => unknown) => new Promise((resolve) => grants.set(lockName, () => resolve(callback()))),
      query: () => Promise.resolve({}),
    };
    const globals = globalThis as { navigator?: unknown };
    const navigator = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
    Object.defineProperty(globalThis, 'navigator', { value: { locks }, configurable: true });
    try {
      const name = 'ahenk:test:early-leader';
      const leader = new BroadcastChannel(name);
      open.push(leader);
      const shared = shareDatabase(name, () => Promise.reject(new Error('never leads')), { onSyncEvent: () => {} });
      open.push(shared);
      const heard: Extract<TabMessage, { kind: 'request' }>[] = [];
      leader.onmessage = (event: MessageEvent<TabMessage>) => {
        if (event.data.kind !== 'request') return;
        heard.push(event.data);
        const inTransaction = event.data.work.kind === 'query' && event.data.work.sql === 'BEGIN';
        leader.postMessage({ kind: 'answer', client: event.data.client, seq: event.data.seq, answer: { status: 'ok', value: { rows: [] }, inTransaction } } satisfies TabMessage);
      };
      leader.postMessage({ kind: 'leader' } satisfies TabMessage);
      await pause();
      const begin = shared.client.call(run('BEGIN'));
      await pause();
      grants.get(`${name}#tab:${shared.client.id}`)!();
      await begin;
      await pause();
      await expect(shared.client.call(insert('inside'))).resolves.toEqual({ rows: [] });
      expect(heard.filter((request) => request.check)).toEqual([]);
    } finally {
      if (navigator === undefined) delete globals.navigator;
      else Object.defineProperty(globalThis, 'navigator', navigator);
    }
  });
});
