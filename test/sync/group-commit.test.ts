/**
 * The receiver's group commit: batches that arrive back to back are merged in one write
 * transaction with the cursor of the last one, and acknowledged only once that transaction has
 * committed. A failure at the commit takes the whole group and its cursor back together, so the
 * next session sends exactly what is missing.
 */
import { describe, expect, it } from 'vitest';
import { createMemoryChannelPair, runSyncSession, type FrameChannel } from '../../src/transport.ts';
import { decodeMessage, encodeMessage, PROTOCOL_MAJOR, type SyncMessage } from '../../src/sync/protocol/index.ts';
import type { OplogEntry } from '../../src/index.ts';
import { dump, openDevice, openRaw } from '../helpers/db.ts';
import { addTodos, idOf, sniffer, syncPair, type Device } from './helpers.ts';

const ROWS = 2000;
const BATCH = 50;

/**
 * Counts the commits of merged batches on a device's connection (transactions with savepoints in
 * them: merge nests one per batch); with `failAt` = n, the n-th one throws instead of committing.
 */
function watchCommits(db: Device) {
  const { driver } = db.$connection;
  const exec = driver.exec.bind(driver);
  /** `rowsInFailed`: the rows the failed transaction held, counted inside it just before the commit. */
  const state = { commits: 0, failAt: 0, failed: false, rowsInFailed: 0 };
  let merging = false;
  driver.exec = (sql) => {
    if (/^\s*BEGIN\b/i.test(sql)) merging = false;
    if (/^\s*SAVEPOINT\b/i.test(sql)) merging = true;
    if (/^\s*COMMIT\b/i.test(sql) && merging) {
      state.commits++;
      if (state.commits === state.failAt) {
        state.failed = true;
        state.rowsInFailed = Number(driver.prepare('SELECT count(*) FROM todos').value());
        throw new Error('disk I/O error (simulated crash at commit)');
      }
    }
    exec(sql);
  };
  return state;
}

/** Calls `onSend` with each message before the channel sends it, and `onRead` with each one read. */
function tap(channel: FrameChannel, onSend: (m: SyncMessage) => void, onRead: (m: SyncMessage) => void = () => {}): FrameChannel {
  const sent = sniffer();
  const read = sniffer();
  return {
    send: (frame, signal) => {
      onSend(sent(frame));
      return channel.send(frame, signal);
    },
    frames: () => ({
      async *[Symbol.asyncIterator]() {
        for await (const frame of channel.frames()) {
          onRead(read(frame));
          yield frame;
        }
      },
    }),
    close: () => channel.close(),
    abort: (reason) => channel.abort(reason),
  };
}

const count = (db: Device) => Number(db.$connection.prepare('SELECT count(*) FROM todos').value());

describe('group commit on the receiving side', () => {
  it('merges batches that arrive back to back in one transaction and acknowledges each only once committed', async () => {
    const a = openDevice('a');
    const b = openDevice('b');
    addTodos(a, 'a', ROWS);
    const commits = watchCommits(b);
    // What another connection sees when B acknowledges: only committed rows and cursors.
    const outside = openRaw(b.path);
    const seenAtAck: { batch: number; rows: number; cursor: unknown }[] = [];
    const [ca, cb] = createMemoryChannelPair();
    const tapped = tap(cb, (m) => {
      if (m.type === 'ack') seenAtAck.push({ batch: m.batch, rows: Number(outside.prepare('SELECT count(*) FROM todos').value()), cursor: outside.prepare('SELECT received FROM ahenk_cursors WHERE peer_id = ?').value(idOf(a)) });
    });
    const [ra, rb] = await Promise.all([
      runSyncSession(a, ca, { localDeviceId: idOf(a), batchSize: BATCH }),
      runSyncSession(b, tapped, { localDeviceId: idOf(b), batchSize: BATCH, window: 16 }),
    ]);
    expect(ra.sent).toBe(ROWS);
    expect(rb.received).toBe(ROWS);
    expect(dump(a, 'todos')).toEqual(dump(b, 'todos'));
    const batches = ROWS / BATCH;
    expect(commits.commits).toBeGreaterThan(0);
    expect(commits.commits).toBeLessThan(batches / 2);
    // Fewer acks than batches, each after its batches and their cursor were committed.
    expect(seenAtAck.length).toBeGreaterThan(0);
    expect(seenAtAck.length).toBeLessThan(batches);
    for (const { batch, rows, cursor } of seenAtAck) {
      expect(rows).toBeGreaterThanOrEqual(batch * BATCH);
      expect(cursor).toBeDefined();
    }
    expect(seenAtAck.at(-1)!.rows).toBe(ROWS);
  });

  it('a crash at a group commit loses the group and its cursor together, and the next session sends exactly those rows', async () => {
    const a = openDevice('a');
    const b = openDevice('b');
    addTodos(a, 'a', ROWS);
    const commits = watchCommits(b);
    commits.failAt = 2;
    const [ca, cb] = createMemoryChannelPair();
    const progress: number[] = [];
    const results = await Promise.allSettled([
      runSyncSession(a, ca, { localDeviceId: idOf(a), batchSize: BATCH }),
      runSyncSession(b, cb, { localDeviceId: idOf(b), batchSize: BATCH, window: 16, onProgress: (p) => p.direction === 'receive' && progress.push(p.entries) }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(commits.failed).toBe(true);
    const applied = count(b);
    expect(applied).toBeGreaterThan(0);
    // The failed commit held several batches: none of them is in the database, nor reported.
    expect(commits.rowsInFailed - applied).toBeGreaterThanOrEqual(2 * BATCH);
    expect(progress.at(-1)).toBe(applied);
    // The stored cursor says exactly what is applied: the next session sends the rest, no more, no less.
    commits.failAt = 0;
    const resumed = await syncPair(a, b, { batchSize: BATCH });
    expect(resumed.a.sent).toBe(ROWS - applied);
    expect(resumed.b.received).toBe(ROWS - applied);
    expect(dump(a, 'todos')).toEqual(dump(b, 'todos'));
  });

  it('commits the batches before one that merge refuses, acknowledges them, and applies nothing of it or after it', async () => {
    const b = openDevice('b');
    const peer = '12D3KooWFakePeerFakePeerFakePeerFakePeerFakePeer';
    const hlc = (i: number) => (0x1000 + i).toString(16).padStart(16, '0');
    const entry = (pk: string, i: number): OplogEntry => ({ table: 'todos', pk, cl: 1, groups: [{ hlc: hlc(i), device: peer, values: { title: pk.slice(0, 20) } }] });
    const batch = (n: number, entries: OplogEntry[]) => encodeMessage({ type: 'batch', batch: n, cursor: String(n), remaining: 0, entries });
    const [ours, theirs] = createMemoryChannelPair();
    const session = runSyncSession(b, ours, { localDeviceId: idOf(b) });
    const answers: SyncMessage[] = [];
    const reading = (async () => {
      for await (const frame of theirs.frames()) answers.push(decodeMessage(frame));
    })();
    // All at once, so the receiver has them queued together; batch 3 holds a key merge refuses.
    await Promise.all([
      theirs.send(encodeMessage({ type: 'hello', major: PROTOCOL_MAJOR, minor: 0, schemaVersion: 1, deviceId: peer, live: false, window: 4 })),
      theirs.send(batch(1, [entry('one', 1)])),
      theirs.send(batch(2, [entry('two', 2)])),
      theirs.send(batch(3, [entry('three', 3), entry('k'.repeat(5000), 4)])),
      theirs.send(batch(4, [entry('four', 5)])),
    ]);
    await expect(session).rejects.toMatchObject({ code: 'PROTOCOL_ENTRY_REJECTED' });
    await theirs.close();
    await reading;
    expect(dump(b, 'todos').map((row) => (row as { id: string }).id)).toEqual(['one', 'two']);
    expect(b.$connection.prepare('SELECT received FROM ahenk_cursors WHERE peer_id = ?').value(peer)).toBe('2');
    expect(answers.filter((m) => m.type === 'ack').at(-1)).toEqual({ type: 'ack', batch: 2 });
    expect(answers.at(-1)).toMatchObject({ type: 'error', code: 'PROTOCOL_ENTRY_REJECTED' });
  });
});
