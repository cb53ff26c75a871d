/**
 * The session runs over the SyncStore interface and nothing else: here one side is a store that
 * keeps its log in memory (no SQLite at all), the other an Ahenk database. What crosses is exactly
 * what the database exports, cursors included, in both directions.
 */
import { describe, expect, it } from 'vitest';
import { getOplogEntriesSince, merge, type OplogEntry } from '../../src/index.ts';
import { createMemoryChannelPair, runSession, runSyncSession, type AppliedBatch, type ExportWindow, type SyncStore } from '../../src/transport.ts';
import { formatHlc, packHlc } from '../../src/clock/timestamp.ts';
import { openDevice } from '../helpers/db.ts';
import { addTodos, idOf } from './helpers.ts';

/** A store whose log is an array: position n means "the first n entries". */
class MemoryStore implements SyncStore {
  readonly log: OplogEntry[] = [];
  readonly applied: OplogEntry[] = [];
  readonly cursors = new Map<string, string>();

  schemaVersion(): number {
    return 0;
  }
  loadCursor(peerId: string): string {
    return this.cursors.get(peerId) ?? '';
  }
  applyBatch(peerId: string, entries: readonly OplogEntry[], cursor: string): AppliedBatch {
    this.applied.push(...entries);
    if (cursor !== '') this.cursors.set(peerId, cursor);
    const position = BigInt(this.log.length);
    return { before: position, after: position, onlyMerged: true, quarantined: 0, quarantineReasons: [] };
  }
  rowsAfter(from: bigint): number {
    return Math.max(0, this.log.length - Number(from));
  }
  rowsBetween(from: bigint, to: bigint, cap: number): number {
    return Math.min(cap, Math.max(0, Math.min(Number(to), this.log.length) - Number(from)));
  }
  exportWindow(from: bigint, limit: number): ExportWindow {
    const end = Math.min(this.log.length, Number(from) + limit);
    return { entries: this.log.slice(Number(from), end), next: BigInt(Math.max(end, Number(from))) };
  }
  waitBeyond(after: bigint, signal: AbortSignal): Promise<bigint> {
    signal.throwIfAborted();
    if (this.log.length > Number(after)) return Promise.resolve(BigInt(this.log.length));
    return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
  }
  poke(): void {}
}

describe('the session over a SyncStore', () => {
  it('syncs an Ahenk database with a store that holds its log in memory, both ways, and resumes from the cursors', async () => {
    const a = openDevice('a');
    addTodos(a, 'a', 25);
    const memory = new MemoryStore();
    const device = 'memory-device';
    const hlc = formatHlc(packHlc(Date.now() - 1000, 0));
    memory.log.push(
      { table: 'todos', pk: 'm-1', cl: 1, groups: [{ hlc, device, values: { title: 'from memory' } }] },
      { table: 'todos', pk: 'm-2', cl: 1, groups: [{ hlc, device, values: { title: 'also from memory', done: 1n } }] },
    );
    const run = async () => {
      const [ca, cm] = createMemoryChannelPair();
      return Promise.all([
        runSyncSession(a, ca, { localDeviceId: idOf(a), expectedRemoteDeviceId: device, batchSize: 10 }),
        runSession(memory, cm, { localDeviceId: device, expectedRemoteDeviceId: idOf(a), batchSize: 10 }),
      ]);
    };
    const [fromA, fromMemory] = await run();

    // The memory side got exactly what the database exports, in its order.
    expect(memory.applied).toEqual(getOplogEntriesSince(a).entries.filter((e) => e.groups.every((g) => g.device === idOf(a))));
    expect(fromMemory.received).toBe(memory.applied.length);
    expect(memory.cursors.get(idOf(a))).toBe(getOplogEntriesSince(a).cursor);
    // The database merged the memory log as merge would.
    expect(fromA.received).toBe(2);
    const twin = openDevice('twin');
    merge(twin, memory.log);
    const titles = (db: typeof a) => db.$connection.prepare("SELECT id, title, done FROM todos WHERE id LIKE 'm-%' ORDER BY id").all().map((row) => ({ ...row }));
    expect(titles(a)).toEqual(titles(twin));

    // Nothing new: a second session sends nothing either way.
    const applied = memory.applied.length;
    const [again, againMemory] = await run();
    expect(again.sent + again.received + againMemory.sent + againMemory.received).toBe(0);
    expect(memory.applied.length).toBe(applied);
  });
});
