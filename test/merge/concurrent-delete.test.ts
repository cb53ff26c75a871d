/**
 * Two devices delete the same incarnation of a row at once (the same causal length): the table
 * agrees either way, but the delete's stamp is a register too. Found by the ten-node topology test
 * (test/sync/ten-nodes.test.ts), where the nodes' exports kept different delete stamps forever.
 */
import { describe, expect, it } from 'vitest';
import { getOplogEntriesSince, merge } from '../../src/index.ts';
import { formatHlc, packHlc } from '../../src/clock/index.ts';
import { openDevice } from '../helpers/db.ts';
import { delta } from '../helpers/entries.ts';

const T0 = Date.UTC(2026, 10, 1);
const at = (ms: number) => formatHlc(packHlc(T0 + ms, 0));
const created = delta({ table: 'todos', pk: 'r1', op: 'insert', cl: 1, hlc: at(0), device: 'device-x', values: { title: 'a', done: 0n } });
const deleteBy = (device: string, ms: number) => delta({ table: 'todos', pk: 'r1', op: 'delete', cl: 2, hlc: at(ms), device, values: {} });

describe('concurrent deletes of one incarnation', () => {
  const cases: [string, number, number][] = [
    ['the same stamp, told apart by device', 5, 5],
    ['different stamps', 5, 9],
  ];
  it.each(cases)('%s: both orders of delivery end with the same export, the higher delete kept', (_, msA, msB) => {
    const first = openDevice('first');
    const second = openDevice('second');
    const a = deleteBy('device-a', msA);
    const b = deleteBy('device-b', msB);
    merge(first, [created]);
    merge(first, [a]);
    merge(first, [b]);
    merge(second, [created]);
    merge(second, [b]);
    merge(second, [a]);
    const exported = getOplogEntriesSince(first).entries;
    expect(getOplogEntriesSince(second).entries).toEqual(exported);
    // device-b wins: a later stamp, or at the same stamp the higher device id.
    expect(exported).toEqual([{ table: 'todos', pk: 'r1', cl: 2, groups: [{ hlc: at(msB), device: 'device-b', values: {} }] }]);
    // And the loser, delivered again, changes nothing.
    expect(merge(first, [a]).applied).toBe(0);
  });
});
