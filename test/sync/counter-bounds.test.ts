/**
 * No value a peer can send may leave a database in a state its own export cannot send. A causal
 * length of 2^53 - 1 used to be accepted; a local delete then stored 2^53, which every peer
 * refused, and nothing the device wrote afterwards ever left it. Causal lengths are bounded at the
 * door (merge's validation, the wire codec), the triggers never step past the bound, and stamps
 * past the clock's range are held back whatever the drift allowance.
 */
import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import superjson from 'superjson';
import { countQuarantined, ENTRY_LIMITS, getOplogEntriesSince, initializeDatabase, InvalidEntryError, localApply, buildOplogEntry, merge, retryQuarantined, type OplogEntry } from '../../src/index.ts';
import { ClockDriftError, formatHlc, HybridLogicalClock, packHlc } from '../../src/clock/index.ts';
import { decodeMessage, encodeBatchFrames, ProtocolError } from '../../src/sync/protocol/index.ts';
import { caught, openDevice } from '../helpers/db.ts';
import { counters, schema, todos } from '../helpers/schema.ts';
import { addTodos, idOf, syncPair } from './helpers.ts';

const MAX = ENTRY_LIMITS.causalLength;
const stamp = () => formatHlc(packHlc(Date.now(), 0));
const hostile = (pk: string, cl: number, values: Record<string, string> = { title: 'hostile' }): OplogEntry => ({
  table: 'todos',
  pk,
  cl,
  groups: [{ hlc: stamp(), device: 'device-evil', values: cl % 2 === 0 ? {} : values }],
});
const titles = (db: ReturnType<typeof openDevice>) => db.select({ id: todos.id }).from(todos).all().map((r) => r.id).sort();
/** The highest causal length in a database's log. */
const maxCl = (db: ReturnType<typeof openDevice>) => Number(db.$connection.prepare('SELECT max(cl) FROM ahenk_oplog').value());

describe('the causal length bound', () => {
  it('is even, far below 2^53, and documented as a limit', () => {
    expect(MAX % 2).toBe(0);
    expect(MAX).toBeLessThanOrEqual(2 ** 52);
    expect(MAX).toBeGreaterThanOrEqual(2 ** 40);
  });

  it('a hostile causal length of 2^53 - 1 no longer stops sync: refused at the door, later writes still travel', async () => {
    const a = openDevice('a');
    const b = openDevice('b', a.path.replace(/\/a\.db$/, ''));
    addTodos(a, 'a', 2);
    await syncPair(a, b);
    // The entry that used to wedge B: accepted, then deleted to 2^53, which no peer takes.
    const refused = caught(() => merge(b, [hostile('evil', 2 ** 53 - 1)]));
    expect(refused).toBeInstanceOf(InvalidEntryError);
    expect((refused as Error).message).toMatch(/cl must be a positive integer of at most/);
    b.delete(todos).where(eq(todos.id, 'evil')).run();
    addTodos(b, 'b-after', 3);
    // syncPair rejects if either session fails (as it did: PROTOCOL_MALFORMED, causal length 2^53).
    await syncPair(a, b);
    expect(titles(a)).toEqual(titles(b));
    expect(titles(a)).toContain('b-after-2');
    expect(maxCl(b)).toBeLessThanOrEqual(MAX);
  });

  it('at the bound itself: the delete travels, a re-insert is refused with a clear error, and every other write still travels', async () => {
    const a = openDevice('a');
    const b = openDevice('b', a.path.replace(/\/a\.db$/, ''));
    await syncPair(a, b);
    // The highest live incarnation a peer may send; B deletes it, reaching the bound.
    expect(merge(b, [hostile('edge', MAX - 1)]).applied).toBe(1);
    b.delete(todos).where(eq(todos.id, 'edge')).run();
    expect(maxCl(b)).toBe(MAX);
    addTodos(b, 'b-after', 2);
    await syncPair(a, b);
    expect(titles(a)).toEqual(['b-after-0', 'b-after-1']);
    expect(Number(a.$connection.prepare(`SELECT max(cl) FROM ahenk_oplog WHERE pk = 'edge'`).value())).toBe(MAX);
    // The key cannot come back: a clear error, on either device, and nothing is written.
    for (const db of [a, b]) {
      const error = caught(() => db.insert(todos).values({ id: 'edge', title: 'again' }).run()) as Error;
      expect(error.message).toMatch(/causal length .*limit/);
      expect(titles(db)).not.toContain('edge');
    }
    // The manual path says so as well.
    const again = buildOplogEntry(idOf(b), 'todos', 'insert', { id: 'edge', title: 'again' });
    expect(caught(() => localApply(b, again))).toBeInstanceOf(InvalidEntryError);
    addTodos(b, 'b-later', 1);
    await syncPair(a, b);
    expect(titles(a)).toEqual(['b-after-0', 'b-after-1', 'b-later-0']);
    for (const db of [a, b]) expect(getOplogEntriesSince(db).entries.every((e) => e.cl <= MAX)).toBe(true);
  });

  it('a log that already holds a causal length past the bound (written before it existed) does not stop export', async () => {
    const a = openDevice('a');
    const b = openDevice('b', a.path.replace(/\/a\.db$/, ''));
    addTodos(b, 'b', 1);
    // What the old trigger stored after deleting a row at 2^53 - 1.
    const table = Number(b.$connection.prepare(`SELECT id FROM ahenk_tables WHERE name = 'todos'`).value());
    b.$connection.prepare(`INSERT INTO ahenk_oplog (seq, tbl, pk, op, cl, cols, ix) VALUES ((SELECT max(seq) + 1 FROM ahenk_oplog), ?, 'evil', 3, ?, 0, 1)`).run(table, 2n ** 53n);
    expect(getOplogEntriesSince(b).entries.every((e) => e.cl <= MAX)).toBe(true);
    addTodos(b, 'b-after', 1);
    await syncPair(a, b);
    expect(titles(a)).toEqual(['b-0', 'b-after-0']);
    // The row stays deleted on B and cannot come back: the trigger refuses to go further.
    expect(caught(() => b.insert(todos).values({ id: 'evil' }).run())).toBeInstanceOf(Error);
  });
});

describe('causal lengths at the door', () => {
  it('validation accepts 1 to the bound and refuses anything above it', () => {
    const a = openDevice('a');
    for (const cl of [MAX + 1, MAX + 2, 2 ** 53 - 1, 2 ** 53, Number.MAX_VALUE, 0, -2, 1.5]) {
      expect(caught(() => merge(a, [hostile(`k${cl}`, cl)])), String(cl)).toBeInstanceOf(InvalidEntryError);
    }
    expect(merge(a, [hostile('top', MAX), hostile('top-1', MAX - 1)]).applied).toBe(2);
  });

  it('the wire codec refuses a causal length above the bound as PROTOCOL_MALFORMED', () => {
    for (const [cl, ok] of [
      [MAX, true],
      [MAX - 1, true],
      [MAX + 1, false],
      [2 ** 53 - 1, false],
    ] as const) {
      const [frame] = encodeBatchFrames([hostile('k', cl)], { firstBatch: 1, cursor: '1', remaining: 0, sender: 'dev' });
      const decode = () => decodeMessage(frame!.frame, { sender: 'dev' });
      if (ok) {
        expect(decode()).toMatchObject({ type: 'batch', entries: [{ cl }] });
      } else {
        const error = caught(decode);
        expect(error, String(cl)).toBeInstanceOf(ProtocolError);
        expect(error).toMatchObject({ code: 'PROTOCOL_MALFORMED' });
        expect((error as Error).message).toMatch(new RegExp(`causal length is ${cl}; at most ${MAX}`));
      }
    }
  });
});

describe('stamps past the clock range', () => {
  it('the JS clock refuses them too, whatever its allowance', () => {
    const clock = new HybridLogicalClock({ maxDriftMs: Infinity });
    expect(caught(() => clock.receive('7fffffffffffffff'))).toBeInstanceOf(ClockDriftError);
    expect(clock.current).toBe(0n);
    const inside = packHlc(Date.UTC(5999, 0, 1), 7);
    expect(clock.receive(inside)).toBe(inside + 1n);
  });

  it('are held back even with an unbounded drift allowance, so local stamps never overflow', async () => {
    const a = openDevice('a');
    const b = openDevice('b', a.path.replace(/\/a\.db$/, ''));
    const top = { table: 'todos', pk: 'far', cl: 1, groups: [{ hlc: '7fffffffffffffff', device: 'device-evil', values: { title: 'far' } }] };
    for (const maxDriftMs of [Infinity, Number.NaN, Number.MAX_SAFE_INTEGER]) {
      const result = merge(b, [top], { maxDriftMs });
      expect(result.applied, String(maxDriftMs)).toBe(0);
      expect(result.quarantined).toMatchObject([{ reason: 'clock-drift' }]);
    }
    // B's own writes still stamp and travel.
    addTodos(b, 'b', 1);
    await syncPair(a, b);
    expect(titles(a)).toEqual(['b-0']);
    // A stamp just inside the range applies under a large allowance, and local writes stay above it.
    const year5999 = formatHlc(packHlc(Date.UTC(5999, 0, 1), 0xffff));
    expect(merge(b, [{ ...top, pk: 'near', groups: [{ ...top.groups[0]!, hlc: year5999 }] }], { maxDriftMs: Infinity }).applied).toBe(1);
    addTodos(b, 'b-next', 1);
    const local = b.$connection.prepare(`SELECT max(seq) FROM ahenk_oplog WHERE site = 0`).value() as bigint;
    expect(local > BigInt(`0x${year5999}`)).toBe(true);
    expect(getOplogEntriesSince(b).entries.find((e) => e.pk === 'b-next-0')).toBeDefined();
  });
});

describe('values a resolver joins', () => {
  it('a join past the value limit is held back, so export can still send everything', async () => {
    const b = openDevice('b');
    const c = openDevice('c', b.path.replace(/\/b\.db$/, ''));
    b.insert(counters).values({ id: 'k', tags: 'x' }).run();
    // 11 MiB of a control character: within the limit, but JSON escapes each as six characters,
    // so the union with B's set would be about 66 MiB, past what merge and the codec take.
    const big = '\x01'.repeat(11 * 1024 * 1024 + 1);
    const result = merge(b, [{ table: 'counters', pk: 'k', cl: 1, groups: [{ hlc: stamp(), device: 'device-evil', values: { tags: big, note: 'kept' } }] }]);
    expect(result.quarantined).toMatchObject([{ index: 0, table: 'counters', pk: 'k', reason: 'value-too-large' }]);
    // The other cell of the write applies; the set stays as it was.
    expect(b.select().from(counters).all()).toEqual([{ id: 'k', high: null, tags: 'x', note: 'kept' }]);
    expect(countQuarantined(b)).toBe(1);
    // The session used to fail on B's side ("column tags is too large for a frame"), every time.
    addTodos(b, 'b-after', 1);
    await syncPair(b, c);
    expect(c.select().from(counters).all()).toEqual([{ id: 'k', high: null, tags: 'x', note: 'kept' }]);
    expect(titles(c)).toEqual(['b-after-0']);
    // A retry holds it back again rather than apply it.
    expect(retryQuarantined(b).quarantined).toMatchObject([{ reason: 'value-too-large' }]);
    expect(countQuarantined(b)).toBe(1);
  }, 60_000);
});

describe('quarantine written before the bounds', () => {
  it('an entry held back that the bounds now refuse does not stop the database from opening', () => {
    const b = openDevice('b');
    // What an older Ahenk quarantined for a table B did not have yet: a causal length of 2^53 - 1.
    const old = { table: 'later', pk: 'k', cl: 2 ** 53 - 1, groups: [{ hlc: stamp(), device: 'device-evil', values: { x: 'y' } }] };
    const held = (entry: unknown) =>
      b.$connection.prepare('INSERT INTO ahenk_quarantine (table_name, reason, entry, received_at) VALUES (?, ?, ?, ?)').run('later', 'unknown-table: not here', superjson.stringify(entry), Date.now());
    held(old);
    held({ ...old, pk: 'fine', cl: 1 });
    b.$connection.close();
    // initializeDatabase retries quarantined entries: it threw InvalidEntryError, at every open.
    const again = initializeDatabase(b.path, { schema });
    // The valid one is still held (its table is not here); the one no peer would take now stays as it was.
    expect(countQuarantined(again)).toBe(2);
    expect(retryQuarantined(again).quarantined).toMatchObject([{ pk: 'fine', reason: 'unknown-table' }]);
    again.$connection.close();
  });
});
