/**
 * Rows merge may skip the history lookup for: in a table whose log held nothing when it was first
 * seen here, a row has history only if a batch merged since then set it. The sync store keeps one
 * of these across the groups of an initial sync, and drops it as soon as anything else may have
 * written the log (docs/decisions.md, "Initial sync: where the receiver's time goes").
 *
 * Keys are remembered as 32-bit hashes in an open-addressing table: a hash seen before only sends
 * the key to the lookup (never skips one wrongly), and a million keys cost 8 MB, not the hundred
 * or so MB of a Set of strings.
 */
import type { SqliteConnection } from '../sqlite/index.ts';
import type { CapturedTable } from '../oplog/catalog.ts';
import { overBothIndexes } from '../oplog/log-index.ts';

/** Slots of one table's hash table at most (16 MB): past half of it, the table is no longer tracked. */
const MAX_SLOTS = 1 << 22;
const FIRST_SLOTS = 1 << 12;

export class FreshRows {
  /** By table id: the hashes of keys merged since the table's log was empty, or null (not fresh). */
  private readonly tables = new Map<number, KeyHashes | null>();

  /**
   * The keys of `pks` that may have history in `table` (to look up), recording all of them as
   * merged. Call inside the transaction that merges them, after the fold.
   */
  mayHaveHistory(raw: SqliteConnection, table: CapturedTable, pks: readonly string[]): readonly string[] {
    let hashes = this.tables.get(table.id);
    if (hashes === undefined) {
      hashes = logHoldsTable(raw, table) ? null : new KeyHashes();
      this.tables.set(table.id, hashes);
    }
    if (hashes === null) return pks;
    const lookup: string[] = [];
    for (const pk of pks) if (!hashes.add(pk)) lookup.push(pk);
    if (hashes.full) this.tables.set(table.id, null);
    return lookup;
  }
}

/**
 * Whether the log indexes any entry of `table`. When it does not, no row of the table has history
 * to look up: after the fold every entry is indexed, so call it after the fold, inside the merge's
 * transaction (one lookup in each partial index).
 */
export function logHoldsTable(raw: SqliteConnection, table: CapturedTable): boolean {
  return Number(raw.cached(`SELECT EXISTS (${overBothIndexes('SELECT 1 FROM ahenk_oplog', 'tbl = ?')})`).value(table.id, table.id)) !== 0;
}

class KeyHashes {
  private slots = new Uint32Array(FIRST_SLOTS);
  private count = 0;
  full = false;

  /** Records the key; true when its hash was not there before (so the key was never merged). */
  add(key: string): boolean {
    const hash = hashKey(key);
    if (!this.insert(hash)) return false;
    this.count++;
    if (this.count * 2 > this.slots.length) this.grow();
    return true;
  }

  private insert(hash: number): boolean {
    const mask = this.slots.length - 1;
    for (let at = hash & mask; ; at = (at + 1) & mask) {
      const held = this.slots[at]!;
      if (held === hash) return false;
      if (held === 0) {
        this.slots[at] = hash;
        return true;
      }
    }
  }

  private grow(): void {
    if (this.slots.length >= MAX_SLOTS) {
      this.full = true;
      return;
    }
    const old = this.slots;
    this.slots = new Uint32Array(old.length * 2);
    for (const hash of old) if (hash !== 0) this.insert(hash);
  }
}

/** FNV-1a over the key's UTF-16 code units; never 0 (the empty slot). */
function hashKey(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  return hash >>> 0 || 1;
}
