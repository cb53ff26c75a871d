/**
 * A peer that holds nothing of a large log gets a snapshot (src/sync/session/sender.ts): the
 * entries in key order, table by table, the cursor only on the last batch, then the log after the
 * snapshot's position. A snapshot cut short is not sent again to that peer: windows, which resume.
 */
import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { createMemoryChannelPair, runSyncSession } from '../../src/transport.ts';
import { SNAPSHOT_MIN_ROWS } from '../../src/sync/session/sender.ts';
import type { SyncMessage } from '../../src/sync/protocol/index.ts';
import { dump, openDevice } from '../helpers/db.ts';
import { todos } from '../helpers/schema.ts';
import { cutAfter, delay, idOf, spy, syncPair, tabTurn, type Device } from './helpers.ts';

const ROWS = SNAPSHOT_MIN_ROWS + 2000;

/** ROWS rows with random UUIDv4 keys, then 50 of them deleted; returns the keys left. */
function fill(db: Device): string[] {
  const keys = Array.from({ length: ROWS }, () => randomUUID());
  db.$connection.transaction(() => {
    for (const [i, id] of keys.entries()) db.insert(todos).values({ id, title: `t${i}`, done: i }).run();
  });
  for (const id of keys.slice(0, 50)) db.delete(todos).where(eq(todos.id, id)).run();
  return keys.slice(50);
}

type Batch = Extract<SyncMessage, { type: 'batch' }>;
const batchesOf = (messages: SyncMessage[]) => messages.filter((m): m is Batch => m.type === 'batch');
const maxSeq = (db: Device) => db.$connection.prepare('SELECT max(seq) FROM ahenk_oplog').value() as bigint;
const cursorOf = (db: Device, peer: Device) => db.$connection.prepare('SELECT received FROM ahenk_cursors WHERE peer_id = ?').value(idOf(peer));

describe('a snapshot for a peer that holds nothing', () => {
  it('sends the rows in key order, tombstones after them, moves the cursor only at its end, then sends what was written meanwhile', async () => {
    const a = openDevice('a');
    const b = openDevice('b');
    const live = fill(a);
    const seen = { sent: [] as SyncMessage[], received: [] as SyncMessage[] };
    let wrote = false;
    const run = await syncPair(a, b, {
      wrap: (channel, side) => (side === 'a' ? spy(channel, seen) : channel),
      onProgress: (p) => {
        // Writes between the snapshot's windows: one row ahead of it, one behind, one new.
        if (wrote || p.direction !== 'send' || p.entries < 3000) return;
        wrote = true;
        const sorted = [...live].sort();
        a.update(todos).set({ title: 'behind' }).where(eq(todos.id, sorted[0]!)).run();
        a.update(todos).set({ title: 'ahead' }).where(eq(todos.id, sorted.at(-1)!)).run();
        a.insert(todos).values({ id: 'zzz-written-during', title: 'new' }).run();
      },
    });
    expect(wrote).toBe(true);
    const batches = batchesOf(seen.sent);
    const last = batches.findIndex((m) => m.cursor !== '');
    expect(last).toBeGreaterThan(10);
    // The snapshot: every batch but its last moves no cursor; it holds every row once, in key order, then the deleted ones.
    const snapshot = batches.slice(0, last + 1).flatMap((m) => m.entries).filter((e) => e.table === 'todos');
    const pks = snapshot.map((e) => e.pk);
    const liveOnes = snapshot.filter((e) => e.cl % 2 === 1).map((e) => e.pk);
    const gone = snapshot.filter((e) => e.cl % 2 === 0).map((e) => e.pk);
    expect(pks).toEqual([...liveOnes, ...gone]);
    expect(liveOnes).toEqual([...liveOnes].sort());
    expect(gone).toEqual([...gone].sort());
    expect(gone).toHaveLength(50);
    expect(new Set(liveOnes).size).toBe(liveOnes.length);
    expect(liveOnes.length).toBeGreaterThanOrEqual(live.length);
    // Then the log after the snapshot's position, with the writes made during it.
    const after = batches.slice(last + 1).flatMap((m) => m.entries).map((e) => e.pk);
    expect(after).toEqual(expect.arrayContaining(['zzz-written-during', [...live].sort()[0]]));
    expect(run.b.received).toBe(snapshot.length + after.length + batches.slice(0, last + 1).flatMap((m) => m.entries).filter((e) => e.table !== 'todos').length);
    expect(dump(b, 'todos')).toEqual(dump(a, 'todos'));
    expect(cursorOf(b, a)).toBe(maxSeq(a).toString());
  });

  it('cut short, is not sent again: the next session sends windows from the start, and a cut in those resumes', async () => {
    const a = openDevice('a');
    const b = openDevice('b');
    fill(a);
    const cutSession = async (frames: number, seen: { sent: SyncMessage[]; received: SyncMessage[] }) => {
      const [ca, cb] = createMemoryChannelPair();
      const results = await Promise.allSettled([
        runSyncSession(a, spy(ca, seen), { localDeviceId: idOf(a), batchSize: 500 }),
        runSyncSession(b, cutAfter(cb, frames), { localDeviceId: idOf(b), batchSize: 500 }),
      ]);
      expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    };
    const count = () => Number(b.$connection.prepare('SELECT count(*) FROM todos').value());

    const first = { sent: [] as SyncMessage[], received: [] as SyncMessage[] };
    await cutSession(8, first);
    // Snapshot batches were applied, but none moved the cursor.
    expect(batchesOf(first.sent).every((m) => m.cursor === '')).toBe(true);
    expect(count()).toBeGreaterThan(0);
    expect(cursorOf(b, a)).toBeUndefined();

    // The next session sends the log in windows, each moving the cursor; cut again, it resumes.
    const second = { sent: [] as SyncMessage[], received: [] as SyncMessage[] };
    await cutSession(8, second);
    expect(batchesOf(second.sent)[0]!.cursor).not.toBe('');
    const held = cursorOf(b, a) as string;
    expect(BigInt(held)).toBeGreaterThan(0n);

    const third = { sent: [] as SyncMessage[], received: [] as SyncMessage[] };
    await syncPair(a, b, { batchSize: 500, wrap: (channel, side) => (side === 'a' ? spy(channel, third) : channel) });
    const resent = batchesOf(third.sent).flatMap((m) => m.entries).length;
    expect(resent).toBeLessThan(ROWS - 1000);
    expect(dump(b, 'todos')).toEqual(dump(a, 'todos'));
    expect(cursorOf(b, a)).toBe(maxSeq(a).toString());
  });

  it('is not sent back by the device that just received it (its log, filled by merging, is echo)', async () => {
    const a = openDevice('a');
    const b = openDevice('b');
    fill(a);
    const fromB = { sent: [] as SyncMessage[], received: [] as SyncMessage[] };
    await syncPair(a, b, { wrap: (channel, side) => (side === 'b' ? spy(channel, fromB) : channel) });
    expect(dump(b, 'todos')).toEqual(dump(a, 'todos'));
    expect(batchesOf(fromB.sent).flatMap((m) => m.entries)).toEqual([]);
  });

  it('begins only once a tab\'s open transaction has ended: a write after its rollback still reaches the peer', async () => {
    const a = openDevice('a');
    const b = openDevice('b');
    const sorted = fill(a).sort();
    // The clock a minute ahead of the wall (as after merging a peer's stamp): new stamps count up by one from the log's last.
    a.$connection.prepare('UPDATE ahenk_clock SET hlc = ? WHERE id = 0').run(BigInt(Date.now() + 60_000) << 16n);
    // A tab's transaction on the shared connection, open across awaits, with writes it will roll back.
    a.$connection.exec('BEGIN');
    for (let i = 0; i < 5; i++) a.insert(todos).values({ id: `ghost-${i}`, title: 'rolled back' }).run();
    const { turn, wake } = tabTurn(a.$connection);
    let wrote = false;
    const [ca, cb] = createMemoryChannelPair();
    const sessions = Promise.all([
      runSyncSession(a, ca, {
        localDeviceId: idOf(a),
        expectedRemoteDeviceId: idOf(b),
        batchSize: 500,
        turn,
        onProgress: (p) => {
          if (wrote || p.direction !== 'send' || p.entries < 3000) return;
          wrote = true;
          a.update(todos).set({ title: 'written during the snapshot' }).where(eq(todos.id, sorted[0]!)).run();
        },
      }),
      runSyncSession(b, cb, { localDeviceId: idOf(b), expectedRemoteDeviceId: idOf(a), batchSize: 500 }),
    ]);
    await delay(300);
    a.$connection.exec('ROLLBACK');
    wake();
    await sessions;
    expect(wrote).toBe(true);
    await syncPair(a, b);
    expect(dump(b, 'todos')).toEqual(dump(a, 'todos'));
  });
});
