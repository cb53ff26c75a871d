import type { OplogEntry, SqlValue } from '../../src/index.ts';

/** One write, as tests describe it: a row, its causal length, one stamp and the cells it set. */
export interface Write {
  table: string;
  pk: string;
  /** Documents the write; the entry carries it as its causal length (odd alive, even deleted). */
  op?: 'insert' | 'update' | 'delete';
  hlc: string;
  device: string;
  cl: number;
  values: Record<string, SqlValue>;
}

/** A write as an entry: a row delta with one clock group. */
export function delta(write: Write): OplogEntry {
  return { table: write.table, pk: write.pk, cl: write.cl, groups: [{ hlc: write.hlc, device: write.device, values: write.values }] };
}

/** An entry's groups as writes, one per group (no op: entries carry none). */
export function writesOf(entries: readonly OplogEntry[]): Write[] {
  return entries.flatMap((e) => e.groups.map((g) => ({ table: e.table, pk: e.pk, hlc: g.hlc, device: g.device, cl: e.cl, values: g.values })));
}

/** All cells of an entry, whatever their group. */
export function cellsOf(entry: OplogEntry): Record<string, SqlValue> {
  return Object.assign({}, ...entry.groups.map((g) => g.values)) as Record<string, SqlValue>;
}

/**
 * Exports compared as sets of cell writes: groups of one row with one clock joined, then sorted.
 * Compaction may hand out one logged row's clock groups as separate groups, or join them.
 */
export function canonical(entries: readonly OplogEntry[]): Write[] {
  const joined = new Map<string, Write>();
  for (const e of writesOf(entries)) {
    const k = JSON.stringify([e.table, e.pk, e.hlc, e.device, e.cl]);
    const had = joined.get(k);
    if (had) had.values = { ...had.values, ...e.values };
    else joined.set(k, { ...e, values: { ...e.values } });
  }
  const order = (e: Write) => JSON.stringify([e.table, e.pk, e.hlc, e.device]);
  return [...joined.values()].sort((x, y) => (order(x) < order(y) ? -1 : 1));
}

/** An export as a sorted list of single cells (table, key, causal length, column, stamp, device, value); a delete is one cell named ''. */
export function cellWrites(entries: readonly OplogEntry[]): string[] {
  const out: string[] = [];
  for (const e of writesOf(entries)) {
    const columns = Object.keys(e.values);
    if (columns.length === 0) out.push(JSON.stringify([e.table, e.pk, e.cl, '', e.hlc, e.device]));
    for (const c of columns) out.push(JSON.stringify([e.table, e.pk, e.cl, c, e.hlc, e.device, e.values[c]], (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? [...v] : v)));
  }
  return out.sort();
}

/**
 * Checks an export from a cursor below a joined log row (docs/decisions.md, "The fold joins a
 * row's local entries"): it holds every cell the unjoined log's export from that cursor holds
 * (nothing lost), and only cells that the export from the start holds too (any extra is an older
 * cell of a row the cursor had, sent again with the same stamp).
 */
export function holdsAllOf(joined: readonly OplogEntry[], reference: readonly OplogEntry[], fromStart: readonly OplogEntry[]): string | undefined {
  const have = new Set(cellWrites(joined));
  const all = new Set(cellWrites(fromStart));
  for (const cell of cellWrites(reference)) if (!have.has(cell)) return `lost ${cell}`;
  for (const cell of have) if (!all.has(cell)) return `not in the export from the start: ${cell}`;
  return undefined;
}
