import { describe, expect, it } from 'vitest';
import type { OplogEntry } from '../../src/index.ts';
import { createFramedChannel, createMemoryChannelPair, runSyncSession, type ByteChannel, type FrameChannel } from '../../src/transport.ts';
import {
  decodeMessage,
  encodeFrame,
  encodeMessage,
  FrameTooLargeError,
  MAX_FRAME_BYTES,
  MESSAGE_TYPE,
  ProtocolError,
  RemoteError,
  UnsupportedVersionError,
  type SyncMessage,
} from '../../src/sync/protocol/index.ts';
import { dump, openDevice } from '../helpers/db.ts';
import { addTodos, idOf, sniffer, syncPair, type Device } from './helpers.ts';

const FAKE_ID = '12D3KooWFakePeerFakePeerFakePeerFakePeerFakePeer';
const hello = (extra: Partial<Extract<SyncMessage, { type: 'hello' }>> = {}) =>
  encodeMessage({ type: 'hello', major: 2, minor: 0, schemaVersion: 1, deviceId: FAKE_ID, live: false, window: 4, ...extra });
const entry: OplogEntry = { table: 'todos', pk: 'evil', cl: 1, groups: [{ hlc: '0000000000000001', device: FAKE_ID, values: { title: 'pwned' } }] };

/** Everything a database holds that a refused peer could have changed. */
function snapshot(db: Device): unknown {
  const all = (sql: string) => db.$connection.prepare(sql).all();
  return { todos: dump(db, 'todos'), log: all('SELECT * FROM ahenk_oplog'), cursors: all('SELECT * FROM ahenk_cursors'), quarantine: all('SELECT * FROM ahenk_quarantine') };
}

/** Runs a session against a scripted peer that sends `frames`, and collects what the session answers. */
async function refuse(frames: Uint8Array[], channelPair: [FrameChannel, FrameChannel] = createMemoryChannelPair()) {
  const db = openDevice('victim');
  addTodos(db, 'mine', 3);
  const before = snapshot(db);
  const [ours, theirs] = channelPair;
  const log: string[] = [];
  const session = runSyncSession(db, ours, { localDeviceId: idOf(db), log: (m) => log.push(m) });
  const answers: SyncMessage[] = [];
  const reading = (async () => {
    const answer = sniffer(true);
    for await (const frame of theirs.frames()) answers.push(answer(frame));
  })();
  for (const frame of frames) await theirs.send(frame);
  const error = await session.then(
    () => undefined,
    (e: unknown) => e,
  );
  await theirs.close();
  await reading;
  expect(snapshot(db)).toEqual(before);
  return { error: error as ProtocolError, log, answers };
}

describe('refusing bad peers', () => {
  it('refuses a malformed batch: logged reason, error sent, stream closed, database unchanged', async () => {
    const batch = encodeMessage({ type: 'batch', batch: 1, cursor: '', remaining: 0, entries: [entry] });
    batch[5] = 7; // type, batch 1, cursor 0 (none), remaining 0, count 1, then the first entry's flags
    const { error, log, answers } = await refuse([hello(), encodeMessage({ type: 'have', cursor: '' }), batch]);
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error.code).toBe('PROTOCOL_MALFORMED');
    expect(log.some((m) => m.startsWith(`refusing peer ${FAKE_ID}: PROTOCOL_MALFORMED: entry #0: unknown flags 7`))).toBe(true);
    expect(answers.at(-1)).toEqual({ type: 'error', code: 'PROTOCOL_MALFORMED', message: 'entry #0: unknown flags 7' });
  });

  it('applies nothing of a batch that merge refuses, not even its valid entries or its cursor', async () => {
    const bad = { ...entry, pk: 'k'.repeat(5000) }; // the wire carries keys merge refuses (over 4096 characters)
    const batch = encodeMessage({ type: 'batch', batch: 1, cursor: '99', remaining: 0, entries: [entry, bad] });
    const { error, answers } = await refuse([hello(), batch]);
    expect(error.code).toBe('PROTOCOL_ENTRY_REJECTED');
    expect(error.message).toMatch(/oplog entry #1: pk must be a string of at most 4096 characters/);
    expect(answers.at(-1)).toMatchObject({ type: 'error', code: 'PROTOCOL_ENTRY_REJECTED' });
  });

  it('refuses an oversized frame', async () => {
    const { error, answers } = await refuse([hello(), new Uint8Array(MAX_FRAME_BYTES + 1)]);
    expect(error).toBeInstanceOf(FrameTooLargeError);
    expect(answers.at(-1)).toMatchObject({ type: 'error', code: 'PROTOCOL_FRAME_TOO_LARGE' });
  });

  it('refuses an oversized length prefix on a byte stream before buffering the frame', async () => {
    const db = openDevice('victim');
    const before = snapshot(db);
    const [ours, theirs] = bytePipe();
    const log: string[] = [];
    const session = runSyncSession(db, createFramedChannel(ours), { localDeviceId: idOf(db), log: (m) => log.push(m) });
    // A good hello, then a length prefix announcing 128 MiB and nothing else.
    await theirs.write(encodeFrame(hello()));
    await theirs.write(new Uint8Array([0x80, 0x80, 0x80, 0x40]));
    await expect(session).rejects.toThrow(FrameTooLargeError);
    const answers: SyncMessage[] = [];
    await theirs.close();
    const answer = sniffer();
    for await (const frame of createFramedChannel(theirs).frames()) answers.push(answer(frame));
    expect(answers.map((a) => a.type)).toEqual(['hello', 'have', 'error']);
    expect(answers[2]).toMatchObject({ code: 'PROTOCOL_FRAME_TOO_LARGE', message: `frame of ${2 ** 27} bytes is larger than the limit of ${MAX_FRAME_BYTES} bytes` });
    expect(log.some((m) => m.includes('PROTOCOL_FRAME_TOO_LARGE'))).toBe(true);
    expect(snapshot(db)).toEqual(before);
  });

  it('refuses a peer of another major version with a clear message and closes the stream', async () => {
    const { error, log, answers } = await refuse([hello({ major: 3, minor: 1 })]);
    expect(error).toBeInstanceOf(UnsupportedVersionError);
    expect(error.code).toBe('PROTOCOL_VERSION');
    const answer = answers.at(-1)!;
    expect(answer.type).toBe('error');
    expect(answer).toMatchObject({ code: 'PROTOCOL_VERSION' });
    expect((answer as { message: string }).message).toMatch(/peer speaks ahenk sync protocol 3\.1 but this device speaks 2\.1; .*upgrade Ahenk on this device/);
    expect(log.some((m) => m.includes('PROTOCOL_VERSION'))).toBe(true);
    // Our hello went first, so an old peer learns our version too; nothing but hello and the error.
    expect(answers.map((a) => a.type)).toEqual(['hello', 'error']);
  });

  it('refuses messages out of order and a hello from another device than the transport authenticated', async () => {
    const early = await refuse([encodeMessage({ type: 'batch', batch: 1, cursor: '', remaining: 0, entries: [entry] })]);
    expect(early.error.code).toBe('PROTOCOL_UNEXPECTED_MESSAGE');
    expect(early.error.message).toBe('unexpected batch before hello');
    const skipped = await refuse([hello(), encodeMessage({ type: 'batch', batch: 2, cursor: '', remaining: 0, entries: [entry] })]);
    expect(skipped.error.message).toBe('unexpected batch 2 where batch 1 was due');
    const ack = await refuse([hello(), encodeMessage({ type: 'ack', batch: 5 })]);
    expect(ack.error.code).toBe('PROTOCOL_UNEXPECTED_MESSAGE');
    const unknown = await refuse([hello(), new Uint8Array([0x33])]);
    expect(unknown.error.message).toMatch(/unknown message type 0x33/);

    const db = openDevice('a');
    const [ours, theirs] = createMemoryChannelPair();
    const session = runSyncSession(db, ours, { localDeviceId: idOf(db), expectedRemoteDeviceId: '12D3KooWSomeoneElse' });
    await theirs.send(hello());
    await expect(session).rejects.toMatchObject({ code: 'PROTOCOL_PEER_MISMATCH' });
  });

  it('fails a session whose peer closes the stream before it is done', async () => {
    const db = openDevice('a');
    const [ours, theirs] = createMemoryChannelPair();
    const session = runSyncSession(db, ours, { localDeviceId: idOf(db) });
    await theirs.send(hello());
    await theirs.close();
    await expect(session).rejects.toMatchObject({ name: 'ProtocolError', code: 'PROTOCOL_CLOSED', message: 'peer closed the stream before it was done' });
  });

  it('reports the error a peer sends and stops', async () => {
    const { error, log } = await refuse([hello(), encodeMessage({ type: 'error', code: 'PROTOCOL_INTERNAL', message: 'disk full' })]);
    expect(error).toBeInstanceOf(RemoteError);
    expect(error.message).toBe('peer reported PROTOCOL_INTERNAL: disk full');
    expect(log.at(-1)).toBe('peer reported PROTOCOL_INTERNAL: disk full');
  });

  it('accepts a peer with a newer minor: extra hello fields and unknown messages are skipped', async () => {
    const a = openDevice('a');
    const b = openDevice('b');
    addTodos(a, 'a', 4);
    addTodos(b, 'b', 2);
    // B pretends to speak 2.7: its hello carries trailing fields and it sends a message type 2.0 does not know.
    const run = await syncPair(a, b, {
      wrap: (channel, side) =>
        side === 'a'
          ? channel
          : {
              ...channel,
              frames: () => channel.frames(),
              close: () => channel.close(),
              abort: (r) => channel.abort(r),
              send: async (frame, signal) => {
                if (frame[0] !== MESSAGE_TYPE.hello) return channel.send(frame, signal);
                const message = decodeMessage(frame) as Extract<SyncMessage, { type: 'hello' }>;
                await channel.send(new Uint8Array([...encodeMessage({ ...message, minor: 7 }), 0x05, 0x01, 0x02]), signal);
                await channel.send(new Uint8Array([0x40, 0xaa, 0xbb]), signal);
              },
            },
    });
    expect(run.logs.a.some((m) => m.includes('protocol 2.7'))).toBe(true);
    expect(dump(a, 'todos')).toEqual(dump(b, 'todos'));
    expect([run.a.sent, run.a.received]).toEqual([4, 2]);
  });
});

/** Two connected ByteChannels, in memory. */
function bytePipe(): [ByteChannel, ByteChannel] {
  const [x, y] = createMemoryChannelPair({ highWaterMark: 64 });
  const side = (c: FrameChannel): ByteChannel => ({
    write: (chunk, signal) => c.send(chunk, signal),
    read: () => c.frames(),
    close: () => c.close(),
    abort: (reason) => c.abort(reason),
  });
  return [side(x), side(y)];
}
