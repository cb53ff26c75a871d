/**
 * The export's working state, in typed arrays that grow by doubling: what the newest-first scan
 * knows of each row (a slot per row) and the log rows that survive it. An initial sync visits every
 * row of a table, so nothing here is an object per row or per log row: the scanned rows die young
 * and the garbage collector never copies them.
 */

/** The row's entries are all decided: nothing older can add to it. */
export const DONE = 1;
/** An entry of the row survives, so its values must be read. */
export const WANTED = 2;

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
  readonly values: (unknown[] | undefined)[] = [];
  /** Keys of the wanted rows. */
  readonly needed: string[] = [];

  add(pk: string, cl: number): number {
    const slot = this.count++;
    if (slot === this.cl.length) {
      this.cl = grown(this.cl);
      this.lo = grown(this.lo);
      this.hi = grown(this.hi);
      this.flags = grown(this.flags);
    }
    this.slots.set(pk, slot);
    this.keys.push(pk);
    this.cl[slot] = cl;
    return slot;
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
      this.slot = grown(this.slot);
      this.site = grown(this.site);
      this.op = grown(this.op);
      this.cl = grown(this.cl);
      this.lo = grown(this.lo);
      this.hi = grown(this.hi);
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
}

function grown<T extends Float64Array | Int32Array | Uint8Array>(array: T): T {
  const bigger = new (array.constructor as new (length: number) => T)(array.length * 2);
  bigger.set(array);
  return bigger;
}
