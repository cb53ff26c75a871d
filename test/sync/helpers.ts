/** Shared helpers of the sync session tests: devices, sessions over memory pairs, frame spies. */
import { getDeviceId } from '../../src/index.ts';
import { createMemoryChannelPair, runSyncSession, type DatabaseTurn, type FrameChannel, type SyncSessionOptions, type SyncSessionResult } from '../../src/transport.ts';
import type { SqliteConnection } from '../../src/sqlite/index.ts';
import { decodeMessage, type SyncMessage } from '../../src/sync/protocol/index.ts';
import { openDevice } from '../helpers/db.ts';
import { todos } from '../helpers/schema.ts';
import { authorizePeers } from '../net/fixtures.ts';

export type Device = ReturnType<typeof openDevice>;

export function idOf(db: Device): string {
  return getDeviceId(db);
}

export function addTodos(db: Device, prefix: string, count: number, extra: Partial<typeof todos.$inferInsert> = {}): void {
  db.$connection.transaction(() => {
    for (let i = 0; i < count; i++) db.insert(todos).values({ id: `${prefix}-${i}`, title: `${prefix} ${i}`, done: 0, ...extra }).run();
  });
}

/** Two devices on one user's device list, each listing the other (for node tests). */
export async function pairedDevices(): Promise<[Device, Device]> {
  const a = openDevice('a');
  const b = openDevice('b');
  await authorizePeers(a, [getDeviceId(b)]);
  await authorizePeers(b, [getDeviceId(a)]);
  return [a, b];
}

export interface PairRun {
  a: SyncSessionResult;
  b: SyncSessionResult;
  logs: { a: string[]; b: string[] };
}

/** Runs one session between two devices over a memory pair; both sessions must finish. */
export async function syncPair(a: Device, b: Device, options: Partial<SyncSessionOptions> & { wrap?: (c: FrameChannel, side: 'a' | 'b') => FrameChannel } = {}): Promise<PairRun> {
  const [ca, cb] = createMemoryChannelPair();
  const logs = { a: [] as string[], b: [] as string[] };
  const { wrap, ...rest } = options;
  const [ra, rb] = await Promise.all([
    runSyncSession(a, wrap ? wrap(ca, 'a') : ca, { ...rest, localDeviceId: idOf(a), expectedRemoteDeviceId: idOf(b), log: (m) => logs.a.push(m) }),
    runSyncSession(b, wrap ? wrap(cb, 'b') : cb, { ...rest, localDeviceId: idOf(b), expectedRemoteDeviceId: idOf(a), log: (m) => logs.b.push(m) }),
  ]);
  return { a: ra, b: rb, logs };
}

/** Wraps a channel to see every message it sends and receives. */
export function spy(channel: FrameChannel, seen: { sent: SyncMessage[]; received: SyncMessage[] }): FrameChannel {
  const sent = sniffer();
  const received = sniffer();
  return {
    send: (frame, signal) => {
      seen.sent.push(sent(frame));
      return channel.send(frame, signal);
    },
    frames: () => ({
      async *[Symbol.asyncIterator]() {
        for await (const frame of channel.frames()) {
          seen.received.push(received(frame));
          yield frame;
        }
      },
    }),
    close: () => channel.close(),
    abort: (reason) => channel.abort(reason),
  };
}

/** Decodes one direction's frames as its receiver does: batches name the HELLO's device by reference. */
export function sniffer(extensions = false): (frame: Uint8Array) => SyncMessage {
  let sender: string | undefined;
  return (frame) => {
    const message = decodeMessage(frame, { sender, extensions });
    if (message.type === 'hello') sender = message.deviceId;
    return message;
  };
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A browser tab's turn on a shared connection, for Node tests: free when no transaction is open on
 * `connection`; `waiting()` counts the waits, `wake()` ends them (as the leader does when a tab's
 * transaction ends).
 */
export function tabTurn(connection: SqliteConnection): { turn: DatabaseTurn; waiting: () => number; wake: () => void } {
  const waiters: (() => void)[] = [];
  const turn: DatabaseTurn = {
    free: () => !connection.inTransaction,
    wait: (signal) =>
      new Promise<void>((resolve, reject) => {
        waiters.push(resolve);
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      }),
  };
  return { turn, waiting: () => waiters.length, wake: () => waiters.splice(0).forEach((wake) => wake()) };
}

/** A channel whose reader sees `frames` frames, then the connection drops (aborted under it). */
export function cutAfter(channel: FrameChannel, frames: number): FrameChannel {
  let seen = 0;
  return {
    send: (frame, signal) => channel.send(frame, signal),
    close: () => channel.close(),
    abort: (reason) => channel.abort(reason),
    frames: () => ({
      async *[Symbol.asyncIterator]() {
        for await (const frame of channel.frames()) {
          if (++seen === frames) channel.abort(new Error('connection cut'));
          yield frame;
        }
      },
    }),
  };
}
