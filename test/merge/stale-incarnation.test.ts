/**
 * An entry of an older incarnation than the row's is stale whether it arrives alone or with
 * others (merge once took a batch's only entry for a row as current): it must not write into the
 * current incarnation, not even into resolver columns, and must not be logged, so compaction and
 * later exports and peers' cursors never see it.
 */
import { delta, type Write } from '../helpers/entries.ts';
import { describe, expect, it } from 'vitest';
import { compactOplog, getOplogEntriesSince, merge, type OplogEntry } from '../../src/index.ts';
import { formatHlc, packHlc } from '../../src/clock/index.ts';
import { dump, openDevice } from '../helpers/db.ts';

const T = Date.now() - 60_000;
const at = (ms: number) => formatHlc(packHlc(T + ms, 0));
const history: OplogEntry[] = ([
  { table: 'todos', pk: 'r', op: 'insert', hlc: at(0), device: 'peer', cl: 1, values: { title: 'old', done: 0n, score: 1.5, data: null } },
  { table: 'todos', pk: 'r', op: 'delete', hlc: at(10), device: 'peer', cl: 2, values: {} },
  // Re-inserted elsewhere; what reaches us of the new incarnation sets only the title.
  { table: 'todos', pk: 'r', op: 'update', hlc: at(20), device: 'peer', cl: 3, values: { title: 'new' } },
] satisfies Write[]).map(delta);
// A concurrent write to the FIRST incarnation (cl 1), from a device that had not seen the delete.
const stale: OplogEntry = delta({ table: 'todos', pk: 'r', op: 'update', hlc: at(15), device: 'other', cl: 1, values: { score: 9.5 } });

describe('a lone entry of an older incarnation', () => {
  it('does not write into the current incarnation (merge is idempotent and batch-independent)', () => {
    const alone = openDevice('alone');
    const twice = openDevice('twice');
    merge(alone, history);
    merge(twice, history);
    merge(alone, [stale]);
    merge(twice, [stale, stale]);
    // Both must ignore it: cl 1 < 3. The lone copy writes score = 9.5 into incarnation 3.
    expect(dump(alone, 'todos')).toEqual(dump(twice, 'todos'));
  });

  it('leaves no cl-1 log row after cl-3 ones, so compaction does not change the export', () => {
    const a = openDevice('a');
    merge(a, history);
    merge(a, [stale]);
    const before = getOplogEntriesSince(a).entries;
    compactOplog(a);
    expect(getOplogEntriesSince(a).entries).toEqual(before);
  });

  it('does not join a resolver column of an older incarnation into the current one', () => {
    const a = openDevice('a');
    merge(a, [
      delta({ table: 'counters', pk: 'c', op: 'insert', hlc: at(0), device: 'peer', cl: 1, values: { high: 1n, tags: '["a"]', note: 'x' } }),
      delta({ table: 'counters', pk: 'c', op: 'delete', hlc: at(10), device: 'peer', cl: 2, values: {} }),
      delta({ table: 'counters', pk: 'c', op: 'insert', hlc: at(20), device: 'peer', cl: 3, values: { high: 1n, tags: '["b"]', note: 'y' } }),
    ]);
    // Every column of incarnation 3 has a clock; the resolver path still joins the cl-1 value in.
    merge(a, [delta({ table: 'counters', pk: 'c', op: 'update', hlc: at(15), device: 'other', cl: 1, values: { tags: '["z"]' } })]);
    expect(a.$connection.prepare("SELECT tags FROM counters WHERE id = 'c'").value()).toBe('["b"]');
  });

  it('compaction never lowers max(seq): a peer whose cursor passed the dropped entry still gets the next write', () => {
    const a = openDevice('a');
    // A peer's clock 4 minutes ahead (inside maxDrift) lifts ahenk_clock.hlc, so the next stamps
    // come from the log and that clock, not from the wall clock.
    const ahead = formatHlc(packHlc(Date.now() + 240_000, 0));
    merge(a, [delta({ table: 'todos', pk: 'other', op: 'insert', hlc: ahead, device: 'fast', cl: 1, values: { title: 'x' } })]);
    merge(a, history);
    merge(a, [stale]); // logged with cl 1 as the log's newest row (row-merge.ts:115)
    const peerCursor = getOplogEntriesSince(a).cursor; // a peer is up to date
    compactOplog(a); // drops that newest row: cl 1 < 3
    a.$connection.prepare("INSERT INTO todos (id, title) VALUES ('fresh', 'written after compaction')").run();
    const next = getOplogEntriesSince(a, peerCursor).entries;
    expect(next.map((e) => e.pk)).toContain('fresh');
  });
});
