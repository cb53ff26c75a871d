import type { OplogEntry } from '../../src/index.ts';

/**
 * Exports compared as sets of cell writes: entries of one row with one clock joined, then sorted.
 * Compaction may hand out one logged row's clock groups as separate entries, or join them.
 */
export function canonical(entries: readonly OplogEntry[]): OplogEntry[] {
  const joined = new Map<string, OplogEntry>();
  for (const e of entries) {
    const k = JSON.stringify([e.table, e.pk, e.op, e.hlc, e.device, e.cl]);
    const had = joined.get(k);
    if (had) had.values = { ...had.values, ...e.values };
    else joined.set(k, { ...e, values: { ...e.values } });
  }
  const order = (e: OplogEntry) => JSON.stringify([e.table, e.pk, e.hlc, e.device]);
  return [...joined.values()].sort((x, y) => (order(x) < order(y) ? -1 : 1));
}
