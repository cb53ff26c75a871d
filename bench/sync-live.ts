/**
 * After catch-up, with the live session still open: what a one-column bulk update costs on the
 * wire, and how long a single write on the sender takes to become visible on the receiver, for
 * writes on the sender's own connection and writes by another process on the sender's file.
 */
import { openConnection } from '../src/sqlite/index.ts';
import type { BenchChild } from './sync-children.ts';
import { NOTES_TABLE } from './sync-data.ts';
import { seededRandom } from './data.ts';

export interface LiveResult {
  /** One-column (integer) update of `updateRows` rows in one transaction, pushed live. */
  updateRows: number;
  updateWireBytes: number;
  /** Write-to-visible latencies in milliseconds. */
  ownConnectionMs: number[];
  otherProcessMs: number[];
  /** Session bytes per single-row live write, sender to receiver (the batch frames). */
  bytesPerLiveWrite: number;
}

type Received = { entries: number; bytes: number };

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const hrtimeUs = (): number => Number(process.hrtime.bigint() / 1000n);

export async function measureLive(sender: BenchChild, receiver: BenchChild, senderDbPath: string, rows: number, writes: number, log: (line: string) => void): Promise<LiveResult> {
  const updateRows = Math.min(rows, 10_000);
  const before = await receiver.request<Received>('received');
  const updated = await sender.request<number>('bulkUpdate', { count: updateRows, qty: 424_242 });
  const after = await receiver.request<Received>('waitEntries', { atLeast: before.entries + updated, timeoutMs: 60_000 });
  log(`sync: live bulk update of ${updated} rows arrived (${after.bytes - before.bytes} bytes)`);

  const keys = await sender.request<string[]>('keys', { count: writes });
  // Random gaps between writes, so the writes do not fall into step with the 5 ms log poll.
  const random = seededRandom(0x1a7e);
  const gap = () => pause(1 + random() * 5);

  const ownStart = await receiver.request<Received>('received');
  const ownConnectionMs: number[] = [];
  for (const [i, key] of keys.entries()) {
    const qty = 20_000_000 + i;
    await receiver.request('arm', { key, qty });
    const writtenUs = await sender.request<number>('write', { key, qty });
    const seenUs = await receiver.request<number>('awaitSeen');
    ownConnectionMs.push((seenUs - writtenUs) / 1000);
    await gap();
  }
  const ownEnd = await receiver.request<Received>('received');
  log(`sync: ${writes} live writes on the sender's connection seen`);

  // Another process (this one) writes to the sender's file on its own plain connection, as the
  // sqlite3 shell or a second app would; the sender notices through its WAL watch or poll.
  const other = openConnection(senderDbPath);
  const otherProcessMs: number[] = [];
  try {
    other.exec('PRAGMA busy_timeout = 5000');
    const update = other.prepare(`UPDATE "${NOTES_TABLE}" SET qty = ? WHERE id = ?`);
    for (const [i, key] of keys.entries()) {
      const qty = 30_000_000 + i;
      await receiver.request('arm', { key, qty });
      const writtenUs = hrtimeUs();
      update.run(qty, key);
      const seenUs = await receiver.request<number>('awaitSeen');
      otherProcessMs.push((seenUs - writtenUs) / 1000);
      await gap();
    }
  } finally {
    other.close();
  }
  log(`sync: ${writes} live writes from another process seen`);

  return {
    updateRows: updated,
    updateWireBytes: after.bytes - before.bytes,
    ownConnectionMs,
    otherProcessMs,
    bytesPerLiveWrite: (ownEnd.bytes - ownStart.bytes) / Math.max(1, ownEnd.entries - ownStart.entries),
  };
}
