/**
 * Quarantine: entries this database cannot apply yet are stored whole, in a compact binary form
 * (held-codec.ts), and retried after migrations, as time brings stamps inside the drift allowance
 * (the sync node does this), and whenever the caller asks. The quarantine is bounded: an entry
 * that would take it over QUARANTINE_LIMITS is not held but refused (QuarantineFullError), so
 * merge rolls the batch back and the peer sends it again later; nothing is dropped silently.
 */
import superjson from 'superjson';
import type { SqliteConnection } from '../sqlite/index.ts';
import { AhenkError } from '../errors.ts';
import { parseHlc } from '../clock/timestamp.ts';
import { connectionOf, type DatabaseHandle } from '../sqlite/index.ts';
import { validateIndexedEntry, type IndexedGroup, type OplogEntry } from '../oplog/entry.ts';
import { decodeHeldEntry, encodeHeldEntry } from './held-codec.ts';

export type QuarantineReason = 'unknown-table' | 'unknown-column' | 'unknown-resolver' | 'clock-drift' | 'value-too-large';

export const QUARANTINE_LIMITS = {
  /**
   * Entries held at once. A device a day behind holds every write it receives that day: 100k
   * entries is a busy day of one person's writes, and retrying them all is about a second of merge.
   */
  entries: 100_000,
  /**
   * Bytes of held entries (their binary form). Four of the largest values an entry may carry
   * (ENTRY_LIMITS.valueBytes, 64 MiB), and small enough for a phone's storage to spare.
   */
  bytes: 256 * 1024 * 1024,
} as const;

/** Holding an entry would take the quarantine over QUARANTINE_LIMITS: the batch is not applied. */
export class QuarantineFullError extends AhenkError {
  /**
   * @param entries entries held before this merge (what stays held: the refused batch is undone)
   * @param bytes their bytes
   * @param entryBytes the refused entry's bytes
   * @param batchEntries entries this merge had held before the refused one (undone with it)
   * @param batchBytes their bytes
   */
  constructor(
    readonly entries: number,
    readonly bytes: number,
    readonly entryBytes: number,
    readonly batchEntries = 0,
    readonly batchBytes = 0,
  ) {
    super(
      'QUARANTINE_FULL',
      `the quarantine is full (${entries} entries, ${bytes} bytes held; limits ${QUARANTINE_LIMITS.entries} entries, ${QUARANTINE_LIMITS.bytes} bytes): ` +
        (batchEntries > 0 ? `this batch would hold ${batchEntries} more (${batchBytes} bytes) and ` : '') +
        `an entry of ${entryBytes} bytes; the batch was refused whole, and the peer sends it again later`,
    );
    this.name = 'QuarantineFullError';
  }
}

/** Writes held entries within the bounds; one per merge, so the totals are read once. */
export class QuarantineWriter {
  #totals: { entries: number; bytes: number } | undefined;
  /** What this merge held so far (undone with it if the quarantine fills up). */
  #added = { entries: 0, bytes: 0 };

  constructor(private readonly raw: SqliteConnection) {}

  hold(entry: OplogEntry, reason: QuarantineReason, message: string, receivedAt: number): void {
    const bytes = encodeHeldEntry(entry);
    const totals = (this.#totals ??= quarantineTotals(this.raw));
    if (totals.entries + 1 > QUARANTINE_LIMITS.entries || totals.bytes + bytes.length > QUARANTINE_LIMITS.bytes) {
      const added = this.#added;
      throw new QuarantineFullError(totals.entries - added.entries, totals.bytes - added.bytes, bytes.length, added.entries, added.bytes);
    }
    // An entry held for its stamp has one group (merge holds each such group on its own).
    const hlc = reason === 'clock-drift' ? parseHlc(entry.groups[0]!.hlc) : null;
    this.raw
      .cached('INSERT INTO ahenk_quarantine (table_name, reason, entry, received_at, bytes, hlc, device) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(entry.table, `${reason}: ${message}`, bytes, receivedAt, bytes.length, hlc, entry.groups[0]?.device ?? null);
    totals.entries += 1;
    totals.bytes += bytes.length;
    this.#added.entries += 1;
    this.#added.bytes += bytes.length;
  }
}

function quarantineTotals(raw: SqliteConnection): { entries: number; bytes: number } {
  const row = raw.cached('SELECT count(*) AS n, coalesce(sum(bytes), 0) AS b FROM ahenk_quarantine').get() as { n: bigint; b: bigint };
  return { entries: Number(row.n), bytes: Number(row.b) };
}

export function countQuarantined(db: DatabaseHandle): number {
  return Number(connectionOf(db).prepare('SELECT count(*) FROM ahenk_quarantine').value());
}

/** What a take removed from the quarantine, and what it read but left there. */
export interface TakenEntries {
  entries: IndexedGroup[][];
  /** The id of the last row read. */
  lastId: number;
  /** Rows read, those left in place included. */
  scanned: number;
  /** Why each row left in place could not be taken: damaged, or refused by today's bounds. */
  unreadable: Error[];
}

/** Which held entries a retry takes. */
export interface QuarantineSelection {
  /** Only entries held for their stamp whose stamp is at most this one (packed): due ones. */
  dueBy?: bigint;
  /** Only entries with an id above this one (a retry in slices moves it on). */
  afterId?: number;
  /** Only entries with an id up to this one. */
  upToId?: number;
  /** At most this many entries, in id order. */
  limit?: number;
}

/**
 * Removes and returns held entries (as their groups' working copies) with the id of the last one
 * taken; the caller applies them in the same transaction, and those that still cannot apply are
 * held again (under new ids).
 */
export function takeQuarantined(raw: SqliteConnection, selection: QuarantineSelection = {}): TakenEntries {
  const where: string[] = [];
  const params: (number | bigint)[] = [];
  if (selection.dueBy !== undefined) {
    where.push('hlc IS NOT NULL AND hlc <= ?');
    params.push(selection.dueBy);
  }
  if (selection.afterId !== undefined) {
    where.push('id > ?');
    params.push(selection.afterId);
  }
  if (selection.upToId !== undefined) {
    where.push('id <= ?');
    params.push(selection.upToId);
  }
  const filter = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
  const limit = selection.limit === undefined ? '' : ' LIMIT ?';
  if (selection.limit !== undefined) params.push(Math.max(0, Math.floor(selection.limit)));
  const rows = raw.prepare(`SELECT id, entry FROM ahenk_quarantine ${filter} ORDER BY id${limit}`).values(...params);
  if (rows.length === 0) return { entries: [], lastId: selection.afterId ?? 0, scanned: 0, unreadable: [] };
  const lastId = Number(rows.at(-1)![0]);
  const entries: IndexedGroup[][] = [];
  const unreadable: Error[] = [];
  const remove = raw.cached('DELETE FROM ahenk_quarantine WHERE id = ?');
  for (const [id, stored] of rows) {
    // A row an older version held back that today's bounds refuse (a causal length past 2^48), or
    // one that no longer parses, stays where it is: throwing here would stop every later retry,
    // and with it initializeDatabase, for good.
    let groups: IndexedGroup[];
    try {
      groups = validateIndexedEntry(readHeld(stored), entries.length);
    } catch (error) {
      unreadable.push(error instanceof Error ? error : new Error(String(error)));
      continue;
    }
    entries.push(groups);
    remove.run(id!);
  }
  return { entries, lastId, scanned: rows.length, unreadable };
}

/** Rows held before migration 0002 are superjson text; later ones the binary form. */
function readHeld(stored: unknown): unknown {
  return typeof stored === 'string' ? withValues(superjson.parse(stored)) : decodeHeldEntry(stored as Uint8Array);
}

/** The lowest stamp (packed) among entries held for their stamp, or undefined when there is none. */
export function earliestHeldStamp(raw: SqliteConnection): bigint | undefined {
  const value = raw.cached('SELECT min(hlc) FROM ahenk_quarantine WHERE hlc IS NOT NULL').value() as bigint | null;
  return value ?? undefined;
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
