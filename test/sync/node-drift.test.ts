/**
 * Clock drift on running nodes (issue 12, defect 2), with real databases on 127.0.0.1. Writes held
 * back because their stamps are too far ahead become visible on the running node once their stamps
 * are inside the allowance, without reopening; drift is reported as `clock:drift` (which peer, how
 * far, which way), an `error` event, a log line and in `ahenk status`; a device whose own stamps
 * ran ahead is told, and so is a device whose peer holds its writes (clockDrift().heldByPeers and
 * `ahenk status`, until the notice lapses), and the documented way out (retryQuarantined with a
 * wider allowance) works.
 *
 * The clock a device stamps with is moved by lifting its ahenk_clock row, as a fast wall clock
 * leaves it: its triggers stamp above that row. The receiving node's allowance is shrunk to a
 * second, so "5.5 minutes fast against 5 minutes" plays out as "3 seconds fast against 1 second".
 */
import { afterEach, describe, expect, it } from 'vitest';
import { getDeviceId } from '../../src/database/identity.ts';
import { getClockDrift, retryQuarantined } from '../../src/index.ts';
import { packHlc } from '../../src/clock/timestamp.ts';
import { createSyncNode, type ClockDriftEvent, type P2PConfig, type SyncErrorEvent, type SyncNode } from '../../src/sync/node/index.ts';
import { dump } from '../helpers/db.ts';
import { waitFor } from '../net/fixtures.ts';
import { addTodos, pairedDevices, type Device } from './helpers.ts';
import { cli } from '../cli/helpers.ts';

const LOOPBACK: P2PConfig = { listenAddresses: ['/ip4/127.0.0.1/tcp/0'] };
const DAY = 86_400_000;
const nodes: SyncNode[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

async function start(db: Device, config: P2PConfig = {}): Promise<SyncNode> {
  const node = await createSyncNode(db, { ...LOOPBACK, ...config });
  nodes.push(node);
  return node;
}

/** Stamps of `db`'s next writes start `aheadMs` ahead of the real clock, as after its clock ran fast. */
function runAhead(db: Device, aheadMs: number): number {
  const ms = Date.now() + aheadMs;
  db.$connection.prepare('UPDATE ahenk_clock SET hlc = ? WHERE id = 0').run(packHlc(ms, 0));
  return ms;
}

const rowIds = (db: Device): string[] => dump(db, 'todos').map((row) => (row as { id: string }).id);

describe('a running node and clock drift', () => {
  it('applies writes held back for their stamps once they are inside the allowance, without reopening, and says so; the sender shows the notice until it lapses', async () => {
    const [a, b] = await pairedDevices();
    const idA = getDeviceId(a);
    const logB: string[] = [];
    const na = await start(a);
    const nb = await start(b, { maxDriftMs: 1_000, log: (line) => logB.push(line) });
    const drift = nb.once('clock:drift', { filter: (e) => e.direction === 'peer-ahead', signal: AbortSignal.timeout(15_000) });
    // A's own check sees nothing (5 s is inside its default allowance): B tells it (DRIFT).
    const told = na.once('clock:drift', { signal: AbortSignal.timeout(15_000) });
    const errors: SyncErrorEvent[] = [];
    nb.on('error', (e) => errors.push(e));
    await na.dial(nb.getMultiaddrs()[0]!);

    // A's clock ran 5 s fast: its stamps are 4 s beyond B's 1 s allowance when they arrive.
    const stampMs = runAhead(a, 5_000);
    addTodos(a, 'fast', 20);
    const event: ClockDriftEvent = await drift;
    expect(event).toMatchObject({ direction: 'peer-ahead', peerId: idA, device: idA, maxDriftMs: 1_000 });
    expect(event.held).toBeGreaterThan(0);
    expect(event.aheadMs).toBeGreaterThan(1_000);
    expect(event.aheadMs).toBeLessThanOrEqual(5_000 + 20);
    expect(event.dueAt).toBeGreaterThanOrEqual(stampMs - 1_000);
    expect(errors.some((e) => e.peerId === idA && e.error.name === 'ClockDriftError')).toBe(true);
    expect(logB.some((line) => line.includes('clock drift') && line.includes(idA))).toBe(true);
    const toldAt = Date.now();
    expect(await told).toMatchObject({ direction: 'local-ahead', peerId: getDeviceId(b) });
    // What B told is part of A's clockDrift() (A's own stamps check sees nothing), until it cannot hold.
    await waitFor(() => na.clockDrift().heldByPeers.length > 0, 5_000, "B's notice in A's clockDrift()");
    const notice = na.clockDrift().heldByPeers[0]!;
    expect(na.clockDrift().ownAhead).toBe(false);
    expect(notice).toMatchObject({ peerId: getDeviceId(b) });
    expect(notice.held).toBeGreaterThan(0);
    expect(notice.aheadMs).toBeGreaterThan(1_000);
    expect(notice.aheadMs).toBeLessThanOrEqual(5_000 + 20);
    expect(Math.abs(notice.at - toldAt)).toBeLessThan(2_000);
    expect(notice.until).toBe(notice.at + notice.aheadMs);
    // Held, not applied: B's table does not have them yet, and status says why.
    const dueAt = stampMs + 19 - 1_000;
    expect(Date.now()).toBeLessThan(dueAt);
    expect(rowIds(b).filter((id) => id.startsWith('fast-'))).toEqual([]);
    expect(nb.clockDrift().held).toEqual([expect.objectContaining({ device: idA, entries: 20 })]);

    // No reopen, no new write, no new session: the node applies them once they are due.
    await waitFor(() => rowIds(b).filter((id) => id.startsWith('fast-')).length === 20, 15_000, 'held rows on B');
    const late = Date.now() - dueAt;
    expect(late).toBeLessThan(2_500);
    expect(getClockDrift(b).held).toEqual([]);
    expect(logB.some((line) => line.startsWith('applied ') && line.includes('held-back entries'))).toBe(true);
    // B holds nothing any more; A stops showing its notice once the stamps reached B's clock.
    await waitFor(() => na.clockDrift().heldByPeers.length === 0, 10_000, "B's notice to be cleared on A");
    expect(Date.now()).toBeGreaterThanOrEqual(notice.until);
  }, 40_000);

  it('tells a device whose own stamps ran a day ahead, and its peer which device and how far; a wider allowance lets the peer take them now', async () => {
    const [a, b] = await pairedDevices();
    const idA = getDeviceId(a);
    // A's clock was a day fast once: its HLC stays there after the clock is fixed.
    runAhead(a, DAY);
    const logA: string[] = [];
    const na = await start(a, { log: (line) => logA.push(line) });
    const own = await na.once('clock:drift', { signal: AbortSignal.timeout(10_000) });
    expect(own).toMatchObject({ direction: 'local-ahead', held: 0 });
    expect(own.aheadMs).toBeGreaterThan(DAY - 60_000);
    expect(own.aheadMs).toBeLessThanOrEqual(DAY);
    expect(na.clockDrift()).toMatchObject({ ownAhead: true });
    expect(logA.some((line) => line.includes("this device's stamps run") && line.includes('Clock drift'))).toBe(true);

    addTodos(a, 'ahead', 5);
    const nb = await start(b);
    const drift = nb.once('clock:drift', { filter: (e) => e.direction === 'peer-ahead', signal: AbortSignal.timeout(15_000) });
    await na.dial(nb.getMultiaddrs()[0]!);
    const event = await drift;
    expect(event).toMatchObject({ peerId: idA, device: idA });
    expect(event.aheadMs).toBeGreaterThan(DAY - 60_000);
    await waitFor(() => getClockDrift(b).held.some((h) => h.device === idA && h.entries >= 5), 10_000, 'held entries on B');
    expect(rowIds(b).filter((id) => id.startsWith('ahead-'))).toEqual([]);

    // `ahenk status` on either database says it.
    const statusB = await cliStatus(b.path);
    expect(statusB).toMatch(new RegExp(`Clock drift: +\\d+ writes of ${idA} held back, stamped up to 14\\d\\d(\\.\\d)? min ahead`));
    const statusA = await cliStatus(a.path);
    expect(statusA).toMatch(/Clock drift: +this device's stamps run 14\d\d(\.\d)? min ahead of its clock/);
    // And what B told A (its DRIFT), in text and in JSON.
    const idB = getDeviceId(b);
    await waitFor(() => na.clockDrift().heldByPeers.some((n) => n.peerId === idB), 10_000, "B's notice on A");
    expect(await cliStatus(a.path)).toMatch(new RegExp(`Clock drift: +${idB} holds back \\d+ of this device's writes, stamped up to 14\\d\\d(\\.\\d)? min ahead of its clock \\(told 20`));
    const json = await cli(['status', '--db', a.path, '--json']);
    const told = (JSON.parse(json.stdout) as { clockDrift: { heldByPeers: { peerId: string; held: number; aheadMs: number; at: number; until: number }[] } }).clockDrift.heldByPeers;
    expect(told).toEqual([expect.objectContaining({ peerId: idB })]);
    expect(told[0]!.held).toBeGreaterThanOrEqual(5);
    expect(told[0]!.aheadMs).toBeGreaterThan(DAY - 60_000);
    expect(told[0]!.until - told[0]!.at).toBe(told[0]!.aheadMs);

    // The way out on the peer (docs/decisions.md, "Clock drift"): accept them now with a wider allowance.
    const taken = retryQuarantined(b, { maxDriftMs: 2 * DAY });
    expect(taken.applied).toBeGreaterThanOrEqual(5);
    expect(rowIds(b).filter((id) => id.startsWith('ahead-'))).toHaveLength(5);
    expect(getClockDrift(b).held).toEqual([]);
  }, 40_000);
});

async function cliStatus(path: string): Promise<string> {
  const result = await cli(['status', '--db', path]);
  expect(result.code).toBe(0);
  return result.stdout;
}
