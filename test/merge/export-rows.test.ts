/**
 * The export's per-table scan state (src/oplog/export-rows.ts): which log rows survive the
 * newest-first scan, with which columns, and in which order they come out.
 */
import { describe, expect, it } from 'vitest';
import type { CapturedTable } from '../../src/oplog/catalog.ts';
import { OP } from '../../src/oplog/format.ts';
import { TableScan } from '../../src/oplog/export-rows.ts';

const table: CapturedTable = {
  id: 1,
  name: 't',
  pkColumn: 'id',
  // Column c was dropped: its bit stays, but nothing exports it.
  columns: ['a', 'b', 'c', 'd'],
  liveColumns: ['a', 'b', 'd'],
  resolvers: new Map(),
  notNull: new Set(),
};
const ALL = 0x7fffffff;
const A = 1;
const B = 2;
const C = 4;
const D = 8;

/** The survivors in output order: key, stamp, op, cl and the low half of the mask each still sets. */
function output(scan: TableScan): [string, string, number, number, number][] {
  const { survivors, states } = scan;
  return [...survivors.rowByRow(states.count)].map((s) => [states.keys[survivors.slot[s]!]!, survivors.hlc[s]!, survivors.op[s]!, survivors.cl[s]!, survivors.lo[s]!]);
}

describe('TableScan', () => {
  it('keeps of older entries only the live columns nothing newer set, and gives each row oldest first', () => {
    const scan = new TableScan(table);
    // Newest first, as the log is scanned.
    scan.visit('r2', 'h5', 0, OP.update, 1, A | C, 0);
    scan.visit('r1', 'h4', 0, OP.update, 1, B, 0);
    scan.visit('r1', 'h3', 0, OP.update, 1, B, 0);
    scan.visit('r2', 'h2', 0, OP.insert, 1, ALL, ALL);
    scan.visit('r1', 'h1', 0, OP.insert, 1, ALL, ALL);
    expect(output(scan)).toEqual([
      // r1 first: its oldest survivor (h1) is older than r2's (h2).
      ['r1', 'h1', OP.insert, 1, A | D],
      ['r1', 'h4', OP.update, 1, B],
      ['r2', 'h2', OP.insert, 1, B | D],
      ['r2', 'h5', OP.update, 1, A],
    ]);
    expect(scan.states.needed).toEqual(['r2', 'r1']);
  });

  it('ends a row at its delete and at an older incarnation, and keeps a newest entry that sets nothing', () => {
    const scan = new TableScan(table);
    scan.visit('gone', 'h9', 0, OP.delete, 2, 0, 0);
    scan.visit('back', 'h8', 0, OP.update, 3, B, 0);
    scan.visit('bare', 'h7', 0, OP.update, 1, C, 0);
    scan.visit('gone', 'h6', 0, OP.insert, 1, ALL, ALL);
    scan.visit('back', 'h5', 0, OP.delete, 2, 0, 0);
    scan.visit('back', 'h4', 0, OP.insert, 1, ALL, ALL);
    scan.visit('bare', 'h3', 0, OP.update, 1, C, 0);
    expect(output(scan)).toEqual([
      ['bare', 'h7', OP.update, 1, 0],
      ['back', 'h8', OP.update, 3, B],
      ['gone', 'h9', OP.delete, 2, 0],
    ]);
    // A deleted row has no values to read.
    expect(scan.states.needed).toEqual(['back', 'bare']);
  });

  it('with the values read first, a row of the table the window never reaches does not come out, and a key the table lost gets a slot of its own', () => {
    const scan = new TableScan(table);
    scan.states.preload([
      ['k1', 1n, 2n, 3n],
      ['k2', 4n, 5n, 6n],
      ['k3', 7n, 8n, 9n],
    ]);
    // k3 was deleted and inserted again before the window; its newest entry fixes its incarnation.
    scan.visit('k3', 'h5', 0, OP.update, 3, B, 0);
    scan.visit('k3', 'h4', 0, OP.update, 1, A, 0);
    scan.visit('k2', 'h3', 0, OP.update, 1, B, 0);
    scan.visit('old', 'h2', 0, OP.delete, 2, 0, 0);
    scan.visit('k2', 'h1', 0, OP.insert, 1, ALL, ALL);
    expect(output(scan)).toEqual([
      ['k2', 'h1', OP.insert, 1, A | D],
      ['k2', 'h3', OP.update, 1, B],
      ['old', 'h2', OP.delete, 2, 0],
      ['k3', 'h5', OP.update, 3, B],
    ]);
    const { states } = scan;
    expect(states.values[states.slots.get('k2')!]).toEqual(['k2', 4n, 5n, 6n]);
    expect(states.slots.get('old')).toBe(3);
    // Values are all there already: nothing is left to look up.
    expect(states.needed).toEqual([]);
  });

  it('grows past its first allocation', () => {
    const scan = new TableScan(table);
    const rows = 5000;
    for (let i = rows - 1; i >= 0; i--) scan.visit(`r${i}`, `u${i}`, 0, OP.update, 1, B, 0);
    for (let i = rows - 1; i >= 0; i--) scan.visit(`r${i}`, `i${i}`, 0, OP.insert, 1, ALL, ALL);
    const out = output(scan);
    expect(out).toHaveLength(rows * 2);
    expect(out.slice(0, 4)).toEqual([
      ['r0', 'i0', OP.insert, 1, A | D],
      ['r0', 'u0', OP.update, 1, B],
      ['r1', 'i1', OP.insert, 1, A | D],
      ['r1', 'u1', OP.update, 1, B],
    ]);
  });
});
