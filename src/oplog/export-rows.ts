/**
 * The export's working state for one table, in typed arrays that grow by doubling: what the
 * newest-first scan knows of each row (a slot per row) and the log rows that survive it. An initial
 * sync visits every row of a table, so nothing here is an object per row or per log row: the
 * scanned rows die young and the garbage collector never copies them.
 */
import type { CapturedTable } from './catalog.ts';
import { OP } from './format.ts';

/** Mask bits per half: a mask is carried as two 31-bit halves, so no BigInt per log row. */
export const LOW_BITS = 31;

/**
 * What the scan of the log knows of one table. Newest first: the first entry seen for a row fixes
 * its causal length; older entries only contribute columns nothing newer has covered. A survivor
 * is recorded with its mask narrowed to the columns it still contributes.
 */
export class TableScan {
  readonly states = new RowStates();
  readonly survivors = new Survivors();
  /** The live columns' bits (liveColumns order). */
  readonly bits: readonly number[];
  private readonly liveLo: number;
  private readonly liveHi: number;

  constructor(readonly table: CapturedTable) {
    this.bits = table.liveColumns.map((c) => table.columns.indexOf(c));
    let liveLo = 0;
    let liveHi = 0;
    for (const bit of this.bits) {
      if (bit < LOW_BITS) liveLo |= 1 << bit;
      else liveHi |= 1 << (bit - LOW_BITS);
    }
    this.liveLo = liveLo;
    this.liveHi = liveHi;
  }

  /** One log row, or one clock group of one (the groups of a log row share its causal length and op). */
  visit(pk: string, hlc: string, site: number, op: number, cl: number, lo: number, hi: number): void {
    const { states, survivors, liveLo, liveHi } = this;
    let slot = states.slots.get(pk);
    if (slot === undefined) slot = states.add(pk);
    let flags = states.flags[slot]!;
    const newest = (flags & SEEN) === 0;
    if (newest) {
      states.cl[slot] = cl;
      flags = SEEN;
      if (op === OP.delete) {
        survivors.push(slot, hlc, site, op, cl, 0, 0);
        states.flags[slot] = SEEN | DONE;
        return;
      }
    }
    if ((flags & DONE) !== 0) return;
    if (cl < states.cl[slot]!) {
      states.flags[slot] = flags | DONE;
      return;
    }
    const seenLo = states.lo[slot]!;
    const seenHi = states.hi[slot]!;
    const freshLo = lo & liveLo & ~seenLo;
    const freshHi = hi & liveHi & ~seenHi;
    const allLo = (states.lo[slot] = seenLo | lo);
    const allHi = (states.hi[slot] = seenHi | hi);
    let next = flags;
    if ((allLo & liveLo) === liveLo && (allHi & liveHi) === liveHi) next |= DONE;
    // The row's newest entry travels even when it sets no column (a row created with its key
    // alone, or with columns all dropped since): it carries the row's existence and causal length.
    if (freshLo !== 0 || freshHi !== 0 || newest) {
      if ((next & WANTED) === 0) {
        next |= WANTED;
        if (!states.preloaded) states.needed.push(pk);
      }
      survivors.push(slot, hlc, site, op, cl, freshLo, freshHi);
    }
    states.flags[slot] = next;
  }
}

/** The row's entries are all decided: nothing older can add to it. */
const DONE = 1;
/** An entry of the row survives, so its values must be read. */
export const WANTED = 2;
/** The scan has seen an entry of the row (a slot can exist before: see RowStates.preload). */
const SEEN = 4;

const INITIAL = 1024;

/** A slot per row seen, by key. */
export class RowStates {
  readonly slots = new Map<string, number>();
  /** Key of each slot. */
  readonly keys: string[] = [];
  count = 0;
  /** The row's causal length, fixed by its newest entry. */
  cl = new Float64Array(INITIAL);
  /** Columns newer entries already cover: the mask's two 31-bit halves. */
  lo = new Int32Array(INITIAL);
  hi = new Int32Array(INITIAL);
  flags = new Uint8Array(INITIAL);
  /** Live values of the row (liveColumns order after the key), once read. */
  values: (unknown[] | undefined)[] = [];
  /** Keys of the wanted rows whose values are still to be read (none after preload). */
  readonly needed: string[] = [];
  /** Values were read before the scan: every row of the table has a slot. */
  preloaded = false;

  add(pk: string): number {
    const slot = this.count++;
    if (slot === this.cl.length) this.grow(slot + 1);
    this.slots.set(pk, slot);
    this.keys.push(pk);
    return slot;
  }

  /**
   * Gives every row of the table a slot before the scan, its values read in one pass (the key
   * first): when most of the table is in the window (an initial sync), this costs one key lookup
   * per row less than finding the wanted rows' slots after it.
   */
  preload(rows: unknown[][]): void {
    if (this.count !== 0) throw new Error('preload before the scan');
    this.grow(rows.length + 1);
    for (const row of rows) this.add(row[0] as string);
    this.values = rows;
    this.preloaded = true;
  }

  private grow(least: number): void {
    let size = this.cl.length;
    while (size < least) size *= 2;
    this.cl = grown(this.cl, size);
    this.lo = grown(this.lo, size);
    this.hi = grown(this.hi, size);
    this.flags = grown(this.flags, size);
  }
}

/** The surviving log rows (or clock groups of one), in scan order (newest first). */
export class Survivors {
  count = 0;
  slot = new Int32Array(INITIAL);
  site = new Float64Array(INITIAL);
  op = new Uint8Array(INITIAL);
  cl = new Float64Array(INITIAL);
  /** The columns the survivor still contributes: the mask's two 31-bit halves. */
  lo = new Int32Array(INITIAL);
  hi = new Int32Array(INITIAL);
  readonly hlc: string[] = [];

  push(slot: number, hlc: string, site: number, op: number, cl: number, lo: number, hi: number): void {
    const at = this.count++;
    if (at === this.slot.length) {
      const size = at * 2;
      this.slot = grown(this.slot, size);
      this.site = grown(this.site, size);
      this.op = grown(this.op, size);
      this.cl = grown(this.cl, size);
      this.lo = grown(this.lo, size);
      this.hi = grown(this.hi, size);
    }
    this.slot[at] = slot;
    this.site[at] = site;
    this.op[at] = op;
    this.cl[at] = cl;
    this.lo[at] = lo;
    this.hi[at] = hi;
    this.hlc.push(hlc);
  }

  /**
   * The survivors' order of output: each row's survivors together and oldest first (merge then
   * finds a row's entries side by side), rows in the order of their oldest survivor, so rows come
   * in the order they were written (for time-ordered keys, key order: the receiver's inserts stay
   * sequential). A counting sort by the row's rank; survivors are in scan order (newest first).
   */
  rowByRow(slotCount: number): Int32Array {
    const slots = this.slot;
    const rank = new Int32Array(slotCount).fill(-1);
    const start = new Int32Array(slotCount);
    let rows = 0;
    for (let s = this.count - 1; s >= 0; s--) {
      const slot = slots[s]!;
      if (rank[slot]! < 0) rank[slot] = rows++;
      start[rank[slot]!]! += 1;
    }
    let at = 0;
    for (let r = 0; r < rows; r++) {
      const count = start[r]!;
      start[r] = at;
      at += count;
    }
    const order = new Int32Array(this.count);
    for (let s = this.count - 1; s >= 0; s--) order[start[rank[slots[s]!]!]!++] = s;
    return order;
  }

  /** The survivors in slot order, each row's oldest first: a counting sort by slot. */
  bySlot(slotCount: number): Int32Array {
    const slots = this.slot;
    const start = new Int32Array(slotCount + 1);
    for (let s = 0; s < this.count; s++) start[slots[s]! + 1]! += 1;
    for (let slot = 0; slot < slotCount; slot++) start[slot + 1]! += start[slot]!;
    const order = new Int32Array(this.count);
    for (let s = this.count - 1; s >= 0; s--) order[start[slots[s]!]!++] = s;
    return order;
  }
}

function grown<T extends Float64Array | Int32Array | Uint8Array>(array: T, size: number): T {
  if (size <= array.length) return array;
  const bigger = new (array.constructor as new (length: number) => T)(size);
  bigger.set(array);
  return bigger;
}
