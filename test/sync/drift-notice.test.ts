/**
 * DRIFT (protocol minor 1): a receiver that holds a peer's writes back for their stamps tells the
 * peer, so a device whose clock runs ahead learns it from the devices that hold its writes. Sent
 * only to a peer whose hello says minor >= 1; bounded like every field.
 */
import { describe, expect, it } from 'vitest';
import { packHlc, formatHlc } from '../../src/clock/timestamp.ts';
import { createMemoryChannelPair, runSyncSession } from '../../src/transport.ts';
import { decodeMessage, encodeMessage, PROTOCOL_MAJOR, PROTOCOL_MINOR, type SyncMessage } from '../../src/sync/protocol/index.ts';
import { MAX_DRIFT_MS } from '../../src/sync/protocol/constants.ts';
import { caught, openDevice } from '../helpers/db.ts';
import { addTodos, idOf, syncPair } from './helpers.ts';

describe('DRIFT', () => {
  it('round-trips and bounds its fields', () => {
    expect(PROTOCOL_MINOR).toBeGreaterThanOrEqual(1);
    const frame = encodeMessage({ type: 'drift', aheadMs: 86_400_000, held: 12 });
    expect(decodeMessage(frame)).toEqual({ type: 'drift', aheadMs: 86_400_000, held: 12 });
    const tooFar = Uint8Array.from([...encodeMessage({ type: 'drift', aheadMs: MAX_DRIFT_MS, held: 1 })]);
    expect(decodeMessage(tooFar)).toMatchObject({ aheadMs: MAX_DRIFT_MS });
    // One more than the bound: 2^47 as a varint.
    const over = new Uint8Array([0x07, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x01]);
    expect((caught(() => decodeMessage(over)) as { code: string }).code).toBe('PROTOCOL_MALFORMED');
  });

  it('tells the sender that its writes are held back, with how many and how far ahead', async () => {
    const a = openDevice('a');
    const b = openDevice('b');
    // A's clock ran 10 minutes fast; B allows the default 5.
    a.$connection.prepare('UPDATE ahenk_clock SET hlc = ? WHERE id = 0').run(packHlc(Date.now() + 600_000, 0));
    addTodos(a, 'fast', 7);
    const reports: { held: number; aheadMs: number }[] = [];
    const run = await syncPair(a, b, { onDriftReported: (report) => reports.push(report) });
    expect(run.b.received).toBeGreaterThanOrEqual(7);
    expect(reports).toHaveLength(1);
    expect(reports[0]!.held).toBeGreaterThanOrEqual(7);
    expect(reports[0]!.aheadMs).toBeGreaterThan(590_000);
    expect(reports[0]!.aheadMs).toBeLessThanOrEqual(600_100);
  });

  it('is not sent to a peer whose hello says minor 0', async () => {
    const b = openDevice('b');
    const peer = '12D3KooWFakePeerFakePeerFakePeerFakePeerFakePeer';
    const ahead = formatHlc(packHlc(Date.now() + 3_600_000, 0));
    const [ours, theirs] = createMemoryChannelPair();
    const session = runSyncSession(b, ours, { localDeviceId: idOf(b) });
    const answers: SyncMessage[] = [];
    const reading = (async () => {
      let sender: string | undefined;
      for await (const frame of theirs.frames()) {
        const message = decodeMessage(frame, { sender });
        if (message.type === 'hello') sender = message.deviceId;
        answers.push(message);
        // The scripted peer acknowledges what B sends, as a real one does.
        if (message.type === 'batch') await theirs.send(encodeMessage({ type: 'ack', batch: message.batch }));
      }
    })();
    await theirs.send(encodeMessage({ type: 'hello', major: PROTOCOL_MAJOR, minor: 0, schemaVersion: 1, deviceId: peer, live: false, window: 4 }));
    await theirs.send(encodeMessage({ type: 'have', cursor: '' }));
    await theirs.send(encodeMessage({ type: 'batch', batch: 1, cursor: '1', remaining: 0, entries: [{ table: 'todos', pk: 'x', cl: 1, groups: [{ hlc: ahead, device: peer, values: { title: 'x' } }] }] }));
    await theirs.send(encodeMessage({ type: 'caught-up' }));
    await expect.poll(() => answers.some((m) => m.type === 'ack') && answers.some((m) => m.type === 'caught-up')).toBe(true);
    await theirs.send(encodeMessage({ type: 'done' }));
    await session;
    await theirs.close();
    await reading;
    expect(b.$connection.prepare('SELECT count(*) FROM ahenk_quarantine').value()).toBe(1n);
    expect(answers.map((m) => m.type)).not.toContain('drift');
  });
});
