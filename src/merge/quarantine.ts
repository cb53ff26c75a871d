/**
 * Quarantine: entries this database cannot apply yet are stored whole (superjson keeps bigint and
 * Uint8Array) and retried after migrations and whenever the caller asks.
 */
import type { SqliteConnection } from '../sqlite/index.ts';
import superjson from 'superjson';
import { connectionOf, type DatabaseHandle } from '../sqlite/index.ts';
import { validateIndexedEntry, type IndexedGroup, type OplogEntry } from '../oplog/entry.ts';

export type QuarantineReason = 'unknown-table' | 'unknown-column' | 'unknown-resolver' | 'clock-drift' | 'value-too-large';

export function quarantine(raw: SqliteConnection, entry: OplogEntry, reason: QuarantineReason, message: string): void {
  // Only the entry's own fields: merge's working copies carry more. Cells as [column, value] pairs:
  // superjson refuses an object with a key "__proto__", "constructor" or "prototype".
  const { table, pk, cl, groups } = entry;
  const plain = { table, pk, cl, groups: groups.map(({ hlc, device, values }) => ({ hlc, device, cells: Object.entries(values) })) };
  raw
    .prepare('INSERT INTO ahenk_quarantine (table_name, reason, entry, received_at) VALUES (?, ?, ?, ?)')
    .run(entry.table, `${reason}: ${message}`, superjson.stringify(plain), Date.now());
}

export function countQuarantined(db: DatabaseHandle): number {
  return Number(connectionOf(db).prepare('SELECT count(*) FROM ahenk_quarantine').value());
}

/**
 * Removes and returns every quarantined entry that still passes merge's validation (as its groups'
 * working copies); the caller applies them in the same transaction.
 */
export function takeQuarantined(raw: SqliteConnection): IndexedGroup[][] {
  const taken: IndexedGroup[][] = [];
  const remove = raw.prepare('DELETE FROM ahenk_quarantine WHERE id = ?');
  for (const [id, text] of raw.prepare('SELECT id, entry FROM ahenk_quarantine ORDER BY id').values()) {
    // A row an older version held back that today's bounds refuse (a causal length past 2^48), or
    // one that no longer parses, stays where it is: throwing here would stop every later retry,
    // and with it initializeDatabase, for good.
    let groups: IndexedGroup[];
    try {
      groups = validateIndexedEntry(withValues(superjson.parse(text as string)), taken.length);
    } catch {
      continue;
    }
    taken.push(groups);
    remove.run(id as bigint);
  }
  return taken;
}

/** A stored entry with its groups' cells as values again (rows stored before cells were pairs have values already). */
function withValues(stored: unknown): unknown {
  if (typeof stored !== 'object' || stored === null || !Array.isArray((stored as { groups?: unknown }).groups)) return stored;
  const groups = (stored as { groups: unknown[] }).groups.map((group) => {
    if (typeof group !== 'object' || group === null || !Object.hasOwn(group, 'cells')) return group;
    const { cells, ...rest } = group as { cells: unknown };
    // Object.fromEntries defines "__proto__" as an own key, as a column.
    return { ...rest, values: Array.isArray(cells) ? Object.fromEntries(cells as [string, unknown][]) : cells };
  });
  return { ...stored, groups };
}
