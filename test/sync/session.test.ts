import { isDeepStrictEqual } from 'node:util';
import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { createMemoryChannelPair, runSyncSession, type FrameChannel } from '../../src/transport.ts';
import { OplogWatcher } from '../../src/sync/store/index.ts';
import { decodeMessage, PROTOCOL_MAJOR, PROTOCOL_MINOR } from '../../src/sync/protocol/index.ts';
import { dump, openDevice, openRaw } from '../helpers/db.ts';
import { counters, todos } from '../helpers/schema.ts';
import { addTodos, cutAfter, delay, idOf, spy, syncPair, type Device } from './helpers.ts';

function cursorOf(db: Device, peer: Device): string | undefined {
  return db.$connection.prepare('SELECT received FROM ahenk_cursors WHERE peer_id = ?').value(idOf(peer)) as string | undefined;
}

describe('sync session over a memory pair', () => {
  it('converges two databases edited offline, storage classes and resolvers included', async () => {
    const a = openDevice('a');
    const b = openDevice('b');
    addTodos(a, 'a', 20);
    addTodos(b, 'b', 7);
    a.insert(todos).values({ id: 'shared', title: 'from a', done: 0, score: 1.5, data: Buffer.from([1, 2]) }).run();
    b.insert(todos).values({ id: 'shared', title: 'from b', done: 1 }).run();
    a.$connection.prepare("UPDATE todos SET done = 9007199254740993 WHERE id = 'a-1'").run();
    a.$connection.prepare("UPDATE todos SET score = 2.0 WHERE id = 'a-2'").run();
    a.delete(todos).where(eq(todos.id, 'a-3')).run();
    a.insert(counters).values({ id: 'c', high: 5, tags: '["x"]' }).run();
    b.insert(counters).values({ id: 'c', high: 9, tags: '["y"]', note: 'b' }).run();

    const run = await syncPair(a, b);

    expect(dump(a, 'todos')).toEqual(dump(b, 'todos'));
    expect(dump(a, 'counters')).toEqual(dump(b, 'counters'));
    expect(dump(a, 'todos')).toHaveLength(20 + 7 + 1 - 1);
    const big = a.$connection.prepare("SELECT done, typeof(done) AS t FROM todos WHERE id = 'a-1'").get();
    expect(big).toEqual({ done: 9007199254740993n, t: 'integer' });
    expect(b.$connection.prepare("SELECT typeof(score) FROM todos WHERE id = 'a-2'").value()).toBe('real');
    expect(b.$connection.prepare("SELECT high FROM counters WHERE id = 'c'").value()).toBe(9n);
    expect(run.a.remoteDeviceId).toBe(idOf(b));
    expect(run.b.remoteDeviceId).toBe(idOf(a));
    expect(run.a.received).toBe(run.b.sent);
    expect(run.b.received).toBe(run.a.sent);
    expect(run.a.bytesSent).toBe(run.b.bytesReceived);
    expect(run.b.bytesSent).toBe(run.a.bytesReceived);
    expect(run.logs.a.some((m) => m.startsWith(`hello from ${idOf(b)}: protocol ${PROTOCOL_MAJOR}.${PROTOCOL_MINOR}`))).toBe(true);
    expect(cursorOf(a, b)).toBeDefined();
    expect(cursorOf(b, a)).toBeDefined();
  });

  it('sends only what is new on reconnect, and nothing when nothing changed', async () => {
    const a = openDevice('a');
    const b = openDevice('b');
    addTodos(a, 'a', 10);
    addTodos(b, 'b', 5);
    const first = await syncPair(a, b, { batchSize: 3 });
    expect([first.a.sent, first.a.received, first.b.sent, first.b.received]).toEqual([10, 5, 5, 10]);

    addTodos(a, 'a2', 3);
    addTodos(b, 'b2', 2);
    b.update(todos).set({ title: 'renamed' }).where(eq(todos.id, 'a-0')).run();
    const second = await syncPair(a, b, { batchSize: 3 });
    expect([second.a.sent, second.a.received, second.b.sent, second.b.received]).toEqual([3, 3, 3, 3]);
    expect(dump(a, 'todos')).toEqual(dump(b, 'todos'));
    expect(a.$connection.prepare("SELECT title FROM todos WHERE id = 'a-0'").value()).toBe('renamed');

    const third = await syncPair(a, b);
    expect([third.a.sent, third.a.received, third.b.sent, third.b.received]).toEqual([0, 0, 0, 0]);
  });

  it('resumes a sync cut after N frames without starting over', async () => {
    const a = openDevice('a');
    const b = openDevice('b');
    addTodos(a, 'a', 2000);
    const seen = { sent: [] as ReturnType<typeof decodeMessage>[], received: [] as ReturnType<typeof decodeMessage>[] };
    const [ca, cb] = createMemoryChannelPair();
    // B's reader sees 8 frames (hello, have, batches...), then the connection drops.
    const cut = cutAfter(cb, 8);
    const results = await Promise.allSettled([
      runSyncSession(a, spy(ca, seen), { localDeviceId: idOf(a), batchSize: 100 }),
      runSyncSession(b, cut, { localDeviceId: idOf(b), batchSize: 100 }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    // Each side says its stream broke (not that the peer did something wrong).
    for (const result of results) expect((result as PromiseRejectedResult).reason).toMatchObject({ name: 'ProtocolError', code: 'PROTOCOL_CONNECTION_LOST' });
    const applied = b.$connection.prepare('SELECT count(*) FROM todos', { integers: 'number' }).value() as number;
    expect(applied).toBeGreaterThan(0);
    expect(applied).toBeLessThan(2000);
    expect(applied % 100).toBe(0);

    const resumed = await syncPair(a, b, { batchSize: 100 });
    expect(resumed.a.sent).toBe(2000 - applied);
    expect(resumed.b.received).toBe(2000 - applied);
    expect(dump(a, 'todos')).toEqual(dump(b, 'todos'));
  });

  it('says what broke when a transport fails with an Event rather than an Error (a WebRTC data channel)', async () => {
    const a = openDevice('a');
    const b = openDevice('b');
    addTodos(a, 'a', 500);
    /** B's side of a pair whose reading throws `thrown` at the 4th frame. */
    const failingAt4 = (channel: FrameChannel, thrown: unknown): FrameChannel => {
      let frames = 0;
      return {
        ...channel,
        send: (f, s) => channel.send(f, s),
        close: () => channel.close(),
        abort: (r) => channel.abort(r),
        frames: () => ({
          async *[Symbol.asyncIterator]() {
            for await (const frame of channel.frames()) {
              if (++frames === 4) throw thrown;
              yield frame;
            }
          },
        }),
      };
    };
    const reasonOf = async (thrown: unknown) => {
      const [ca, cb] = createMemoryChannelPair();
      const [, result] = await Promise.allSettled([runSyncSession(a, ca, { localDeviceId: idOf(a), batchSize: 50 }), runSyncSession(b, failingAt4(cb, thrown), { localDeviceId: idOf(b), batchSize: 50 })]);
      expect(result.status).toBe('rejected');
      return (result as PromiseRejectedResult).reason as unknown;
    };
    expect(await reasonOf(Object.assign(new Event('error'), { error: new Error('User-Initiated Abort, reason=Close called') }))).toMatchObject({
      code: 'PROTOCOL_CONNECTION_LOST',
      message: 'the stream broke: User-Initiated Abort, reason=Close called',
    });
    // An Event with no error in it is named by its type, never "[object Event]".
    expect(await reasonOf(new Event('error'))).toMatchObject({ code: 'PROTOCOL_CONNECTION_LOST', message: "the stream broke: an 'error' event on the stream" });
  });

  it('tells the peer when its own database fails, and the next session picks up', async () => {
    const a = openDevice('a');
    const b = openDevice('b');
    addTodos(a, 'a', 50);
    b.$connection.exec('PRAGMA busy_timeout = 50');
    // Another process holds the write lock on B's file.
    const locker = openRaw(b.path);
    locker.exec('BEGIN IMMEDIATE');
    const logs: string[] = [];
    const [ca, cb] = createMemoryChannelPair();
    const results = await Promise.allSettled([
      runSyncSession(a, ca, { localDeviceId: idOf(a), log: (m) => logs.push(`a: ${m}`) }),
      runSyncSession(b, cb, { localDeviceId: idOf(b), log: (m) => logs.push(`b: ${m}`) }),
    ]);
    locker.exec('ROLLBACK');
    locker.close();
    expect(results[0]).toMatchObject({ status: 'rejected', reason: { name: 'RemoteError', remoteCode: 'PROTOCOL_INTERNAL' } });
    // SQLITE_BUSY as each driver reports it: better-sqlite3 by name, node:sqlite by result code.
    const busy = b.$connection.adapter === 'node:sqlite' ? { code: 'ERR_SQLITE_ERROR', errcode: 5 } : { code: 'SQLITE_BUSY' };
    expect(results[1]).toMatchObject({ status: 'rejected', reason: busy });
    expect(logs.some((m) => m.startsWith(`b: refusing peer ${idOf(a)}: PROTOCOL_INTERNAL: database is locked`))).toBe(true);
    const again = await syncPair(a, b);
    expect(again.b.received).toBe(50);
    expect(dump(a, 'todos')).toEqual(dump(b, 'todos'));
  });

  it('rejects a catch-up session aborted by its caller and leaves the peer failed, not hanging', async () => {
    const a = openDevice('a');
    const b = openDevice('b');
    addTodos(a, 'a', 3000);
    const controller = new AbortController();
    const [ca, cb] = createMemoryChannelPair();
    const slow: FrameChannel = {
      ...cb,
      frames: () => ({
        async *[Symbol.asyncIterator]() {
          for await (const frame of cb.frames()) {
            await delay(2);
            yield frame;
          }
        },
      }),
      send: (f, s) => cb.send(f, s),
      close: () => cb.close(),
      abort: (r) => cb.abort(r),
    };
    const sa = runSyncSession(a, ca, { localDeviceId: idOf(a), batchSize: 50, signal: controller.signal, onProgress: (p) => p.direction === 'send' && p.entries >= 200 && controller.abort(new Error('user cancelled')) });
    const sb = runSyncSession(b, slow, { localDeviceId: idOf(b), batchSize: 50 });
    await expect(sa).rejects.toThrow('user cancelled');
    await expect(sb).rejects.toThrow();
  });
});

describe('live push', () => {
  it('pushes writes of another connection to the peer and stops without leaving timers', async () => {
    const a = openDevice('a');
    const b = openDevice('b');
    addTodos(a, 'a', 5);
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const controller = new AbortController();
    let caughtUp!: () => void;
    const ready = new Promise<void>((resolve) => (caughtUp = resolve));
    const [ca, cb] = createMemoryChannelPair();
    const sessions = Promise.all([
      runSyncSession(a, ca, { localDeviceId: idOf(a), live: true, signal: controller.signal, onCaughtUp: () => caughtUp() }),
      runSyncSession(b, cb, { localDeviceId: idOf(b), live: true, signal: controller.signal }),
    ]);
    await ready;

    // Another process would do the same: a plain connection to the file, no Ahenk code loaded.
    const other = openRaw(a.path);
    other.exec('PRAGMA busy_timeout = 5000');
    const see = b.$connection.prepare('SELECT title FROM todos WHERE id = ?');
    const latencies: number[] = [];
    for (let i = 0; i < 20; i++) {
      const started = performance.now();
      other.prepare("INSERT INTO todos (id, title) VALUES (?, 'from the shell')").run(`shell-${i}`);
      while (see.value(`shell-${i}`) === undefined) {
        if (performance.now() - started > 5000) throw new Error(`write ${i} did not arrive`);
        await delay(0);
      }
      latencies.push(performance.now() - started);
    }
    other.prepare("UPDATE todos SET title = 'edited' WHERE id = 'a-0'").run();
    other.close();
    // And a write on the peer's own app connection travels back.
    b.update(todos).set({ done: 1 }).where(eq(todos.id, 'shell-3')).run();
    const deadline = Date.now() + 5000;
    while (!isDeepStrictEqual(dump(a, 'todos'), dump(b, 'todos'))) {
      if (Date.now() > deadline) throw new Error('did not converge');
      await delay(5);
    }
    latencies.sort((x, y) => x - y);
    const median = latencies[latencies.length >> 1]!;
    console.log(`live push over a memory pair: median ${median.toFixed(2)} ms, max ${latencies.at(-1)!.toFixed(2)} ms`);
    expect(median).toBeLessThan(50);

    controller.abort();
    const [ra, rb] = await sessions;
    expect(ra.sent).toBe(5 + 20 + 1);
    expect(rb.received).toBe(5 + 20 + 1);
    expect(ra.received).toBe(1);
    await delay(20);
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBeLessThanOrEqual(timersBefore);
    expect(OplogWatcher.of(a.$connection).active).toBe(false);
    expect(OplogWatcher.of(b.$connection).active).toBe(false);
  });

  it('stopping one side of a live pair ends both sessions cleanly', async () => {
    const a = openDevice('a');
    const b = openDevice('b');
    addTodos(a, 'a', 5);
    const controller = new AbortController();
    const [ca, cb] = createMemoryChannelPair();
    const logs: string[] = [];
    const sa = runSyncSession(a, ca, { localDeviceId: idOf(a), live: true, signal: controller.signal, log: (m) => logs.push(m) });
    const sb = runSyncSession(b, cb, { localDeviceId: idOf(b), live: true, log: (m) => logs.push(m) });
    while (b.$connection.prepare('SELECT count(*) FROM todos').value() !== 5n) await delay(2);
    addTodos(a, 'late', 2);
    controller.abort();
    const [ra, rb] = await Promise.all([sa, sb]);
    expect(ra.sent).toBe(rb.received);
    expect(logs).toContain('stopping live session');
    expect(logs.filter((m) => m.includes('complete'))).toHaveLength(2);
  });

  it('stopping a live session before it caught up ends both sides, and the next session resumes', async () => {
    const a = openDevice('a');
    const b = openDevice('b');
    addTodos(a, 'a', 2000);
    const controller = new AbortController();
    const [ca, cb] = createMemoryChannelPair();
    const sa = runSyncSession(a, ca, {
      localDeviceId: idOf(a),
      live: true,
      batchSize: 50,
      signal: controller.signal,
      onProgress: (p) => p.direction === 'send' && p.entries === 300 && controller.abort(),
    });
    const sb = runSyncSession(b, cb, { localDeviceId: idOf(b), batchSize: 50 });
    const [ra, rb] = await Promise.all([sa, sb]);
    expect(ra.sent).toBeLessThan(2000);
    expect(rb.received).toBe(ra.sent);
    const next = await syncPair(a, b, { batchSize: 50 });
    expect(next.a.sent).toBe(2000 - rb.received);
    expect(dump(a, 'todos')).toEqual(dump(b, 'todos'));
  });

  it('ends a live session when a catch-up peer is done', async () => {
    const a = openDevice('a');
    const b = openDevice('b');
    addTodos(a, 'a', 5);
    addTodos(b, 'b', 5);
    const [ca, cb] = createMemoryChannelPair();
    const [ra, rb] = await Promise.all([
      runSyncSession(a, ca, { localDeviceId: idOf(a), live: true }),
      runSyncSession(b, cb, { localDeviceId: idOf(b) }),
    ]);
    expect([ra.sent, rb.sent]).toEqual([5, 5]);
    expect(dump(a, 'todos')).toEqual(dump(b, 'todos'));
  });
});
