/**
 * merge: applies remote entries in one transaction. Per cell, the write with the highest
 * (causal length, HLC, device) wins, or the column's resolver joins the values; per row, the
 * highest causal length decides whether it exists. Entries for tables or columns this database
 * does not have yet, or stamped too far in the future, are quarantined, never dropped.
 */
import type { SqliteConnection } from '../sqlite/index.ts';
import { setOwn, type SqlValue } from '../sqlite/values.ts';
import { formatHlc, hlcTextMs, MAX_COUNTER, MAX_REMOTE_MS, packHlc, parseHlc } from '../clock/timestamp.ts';
import { DEFAULT_MAX_DRIFT_MS } from '../clock/hybrid-logical-clock.ts';
import { ClockDriftError } from '../clock/errors.ts';
import { loadCatalog, type CapturedTable } from '../oplog/catalog.ts';
import { foldOplog } from '../oplog/fold.ts';
import { refreshCaptureIfStale } from '../capture/install.ts';
import { withoutCapture } from '../oplog/guard.ts';
import { InvalidEntryError } from '../errors.ts';
import { connectionOf, type DatabaseHandle } from '../sqlite/index.ts';
import { checkedGroups, ENTRY_LIMITS, entryOf, validateIndexedEntry, type IndexedGroup, type OplogEntry } from '../oplog/entry.ts';
import { QuarantineWriter, takeQuarantined, type QuarantineReason, type QuarantineSelection } from './quarantine.ts';
import { customResolversOf } from './registry.ts';
import { lookupResolver, type Resolver } from '../schema/resolvers.ts';
import { RowMerger, type Incoming } from './row-merge.ts';
import { RowGroups } from './row-groups.ts';
import { logHoldsTable, type FreshRows } from './fresh-rows.ts';
import { shapeOf } from './shape.ts';
import { APPEND_ONLY_TABLES } from '../schema/system.ts';

export interface MergeOptions {
  /** Wall clock in Unix ms, for the drift check and new stamps. @default Date.now */
  now?: () => number;
  /** Remote stamps further ahead of our wall clock than this are quarantined. @default 300000 */
  maxDriftMs?: number;
}

export interface QuarantinedEntry {
  /** Position in the batch passed to merge. */
  index: number;
  table: string;
  pk: string;
  reason: QuarantineReason;
  message: string;
}

export interface MergeResult {
  /** Entries that changed this database. */
  applied: number;
  /** Entries that lost to what this database already had (or were already here). */
  unchanged: number;
  /** Entries (or groups of one: each is quarantined on its own) kept for later. */
  quarantined: QuarantinedEntry[];
  /** Clock errors among the quarantined entries, for the caller to report. */
  errors: ClockDriftError[];
}

export function merge(db: DatabaseHandle, entries: readonly unknown[], options: MergeOptions = {}): MergeResult {
  return mergeEntries(connectionOf(db), entries, options);
}

/**
 * merge on a connection, for the sync store: `fresh` (kept by the caller across batches, and
 * dropped by it when anything else may have written the log) spares the history lookup of rows
 * that cannot have any.
 */
export function mergeEntries(raw: SqliteConnection, entries: readonly unknown[], options: MergeOptions, fresh?: FreshRows): MergeResult {
  if (!Array.isArray(entries)) throw new InvalidEntryError(-1, 'merge expects an array of entries');
  // A plain loop, not map: map skips an array's holes, which must be refused like any non-entry.
  const valid = new Array<IndexedGroup[]>(entries.length);
  for (let index = 0; index < entries.length; index++) valid[index] = validateIndexedEntry(entries[index], index);
  return raw.withStorageErrors('merging entries', () => raw.transaction(() => applyEntries(raw, valid, options, fresh)));
}

/**
 * mergeEntries for entries the wire decoder made (sync/protocol/entries.ts reads every field
 * bounded and typed, as validateIndexedEntry would check it): applied without a second check.
 */
export function mergeDecodedEntries(raw: SqliteConnection, entries: readonly OplogEntry[], options: MergeOptions, fresh?: FreshRows): MergeResult {
  const checked = new Array<IndexedGroup[]>(entries.length);
  for (let index = 0; index < entries.length; index++) checked[index] = checkedGroups(entries[index]!, index);
  return raw.withStorageErrors('merging entries', () => raw.transaction(() => applyEntries(raw, checked, options, fresh)));
}

/** Applies validated entries (each as the working copies of its groups); the caller owns the transaction. */
export function applyEntries(raw: SqliteConnection, entries: readonly (readonly Incoming[])[], options: MergeOptions, fresh?: FreshRows): MergeResult {
  const result: MergeResult = { applied: 0, unchanged: 0, quarantined: [], errors: [] };
  if (entries.length === 0) return result;
  const wallMs = Math.floor((options.now ?? Date.now)());
  const maxDriftMs = options.maxDriftMs ?? DEFAULT_MAX_DRIFT_MS;
  refreshCaptureIfStale(raw);
  foldOplog(raw);
  const catalog = loadCatalog(raw);
  const custom = customResolversOf(raw);
  const held = new QuarantineWriter(raw);
  const hold = (index: number, entry: OplogEntry, reason: QuarantineReason, message: string) => {
    held.hold(entry, reason, message, wallMs);
    result.quarantined.push({ index, table: entry.table, pk: entry.pk, reason, message });
  };

  const byTable = new Map<CapturedTable, RowGroups>();
  // Stamps are fixed-width hex, so text order is time order: the drift check and the highest stamp
  // seen compare text, with no number or BigInt per entry.
  const horizon = driftHorizon(wallMs, maxDriftMs);
  let maxSeen = '';
  // Export hands out each table's entries together: the last table's groups are reused.
  let lastTable: CapturedTable | undefined;
  let rows: RowGroups | undefined;
  for (let index = 0; index < entries.length; index++) {
    const groups = entries[index]!;
    const first = groups[0]!;
    const table = lastTable !== undefined && lastTable.name === first.table ? lastTable : catalog.byName.get(first.table);
    if (!table) {
      hold(index, entryOf(groups), 'unknown-table', `table "${first.table}" is not synced here (yet)`);
      continue;
    }
    // The device list and revocations only grow: a delete or re-insert from a peer is ignored.
    if (first.cl !== 1 && APPEND_ONLY_TABLES.has(table.name)) {
      result.unchanged += 1;
      continue;
    }
    if (table !== lastTable) {
      rows = byTable.get(table);
      if (!rows) byTable.set(table, (rows = new RowGroups()));
      lastTable = table;
    }
    // Each group is a register write of its own: one too far ahead, or for a column not here yet,
    // waits in quarantine while the others apply.
    for (const group of groups) {
      if (group.hlc > horizon) {
        const error = new ClockDriftError(group.hlc, hlcTextMs(group.hlc) - wallMs, maxDriftMs);
        result.errors.push(error);
        hold(index, entryOf([group]), 'clock-drift', error.message);
        continue;
      }
      const applicable = applicablePart(table, group, index, custom, hold);
      if (!applicable) continue;
      if (group.hlc > maxSeen) maxSeen = group.hlc;
      rows!.add(first.pk, applicable);
    }
  }

  // A resolver's join past the value limit (a union of two large sets) waits in quarantine, cell alone.
  const merger = new RowMerger(raw, wallMs, custom, (group, column) => {
    const values: Record<string, SqlValue> = {};
    setOwn(values, column, group.values[column]!);
    hold(group.index, entryOf([{ ...group, values }]), 'value-too-large', `column "${group.table}"."${column}" joined by its resolver would be larger than ${ENTRY_LIMITS.valueBytes} bytes`);
  });
  // What merge writes is logged by merge itself, with the peer's stamps: the triggers stand aside.
  withoutCapture(raw, () => {
    for (const [table, rowsOf] of byTable) {
      const { keys, groups } = rowsOf;
      // A table the log holds nothing of (a first sync into it) has no history to look up.
      const lookup = fresh !== undefined ? fresh.mayHaveHistory(raw, table, keys) : logHoldsTable(raw, table) ? keys : [];
      const histories = merger.loadHistories(table, lookup);
      for (const row of rowsOf.order()) {
        const pk = keys[row]!;
        const incoming = groups[row]!;
        let changed: number;
        try {
          changed = merger.applyRow(table, pk, incoming, histories.get(pk));
        } catch (error) {
          // A constraint of the app's table (CHECK, STRICT types) refused the values: the entry is bad.
          // Anything else (busy, I/O, a rollback SQLite did itself) is not the entry's fault.
          if (raw.isConstraintError(error) && raw.inTransaction) {
            throw new InvalidEntryError(incoming[0]!.index, `table "${table.name}" refused row "${pk.slice(0, 64)}": ${(error as Error).message}`);
          }
          throw error;
        }
        // A row's groups arrive entry by entry: count the entries, applied those that changed something.
        let count = 1;
        for (let i = 1; i < incoming.length; i++) if (incoming[i]!.index !== incoming[i - 1]!.index) count++;
        result.applied += changed;
        result.unchanged += count - changed;
      }
    }
    merger.flush();
  });
  // Everything merge logged is indexed already, so the fold watermark can move past it: the next
  // fold then scans only what triggers logged meanwhile.
  raw.cached('UPDATE ahenk_clock SET hlc = max(hlc, ?), folded = (SELECT coalesce(max(seq), 0) FROM ahenk_oplog) WHERE id = 0').run(maxSeen === '' ? 0n : parseHlc(maxSeen));
  return result;
}

/**
 * The highest stamp text within maxDriftMs of the wall clock: a stamp above it is too far ahead.
 * A stamp's milliseconds are whole, so the allowance counts in whole milliseconds (floored on its
 * own: added to the wall clock first, a fraction could round across an integer). '' when every
 * stamp is too far ahead. Never past MAX_REMOTE_MS, whatever the allowance (a NaN one, which no
 * difference exceeds, included): a stamp near the end of the packed range would leave this
 * database's own next stamps no room.
 */
function driftHorizon(wallMs: number, maxDriftMs: number): string {
  const limit = Number.isNaN(maxDriftMs) ? MAX_REMOTE_MS : Math.min(wallMs + Math.floor(maxDriftMs), MAX_REMOTE_MS);
  if (limit < 0) return '';
  return formatHlc(packHlc(limit, MAX_COUNTER));
}

type Hold = (index: number, entry: OplogEntry, reason: QuarantineReason, message: string) => void;

/**
 * The part of a group that can apply now: columns this table does not have (yet) are split off
 * and quarantined; a group for a column whose resolver this process lacks is quarantined whole
 * (undefined). Throws for NULL into a NOT NULL column. Sets the applicable part's mask.
 */
function applicablePart(table: CapturedTable, entry: Incoming, index: number, custom: ReadonlyMap<string, Resolver>, hold: Hold): Incoming | undefined {
  const shape = shapeOf(table);
  let unknown: string[] | undefined;
  let mask = 0;
  for (const column in entry.values) {
    const bit = shape.bits.get(column);
    if (bit === undefined) (unknown ??= []).push(column);
    else mask |= bit;
  }
  let applicable = entry;
  if (unknown) {
    // Known columns apply now, the rest waits for the migration that adds them.
    const later = entryOf([{ ...entry, values: Object.fromEntries(unknown.map((c) => [c, entry.values[c]!])) }]);
    hold(index, later, 'unknown-column', `columns ${unknown.map((c) => `"${c}"`).join(', ')} of "${entry.table}" are not here (yet)`);
    applicable = { ...entry, values: Object.fromEntries(Object.entries(entry.values).filter(([c]) => !unknown.includes(c))) };
  }
  applicable.mask = shape.small ? mask : -1;
  // Most tables have neither NOT NULL columns nor resolvers: nothing more to check per value.
  if (shape.plain) return applicable;
  for (const column in applicable.values) {
    if (applicable.values[column] === null && table.notNull.has(column)) {
      throw new InvalidEntryError(index, `column "${entry.table}"."${column}" is NOT NULL here but the entry sets it to NULL`);
    }
    const resolver = table.resolvers.get(column);
    if (resolver !== undefined && !resolverKnown(resolver, custom)) {
      hold(index, entryOf([applicable]), 'unknown-resolver', `column "${entry.table}"."${column}" uses resolver "${resolver}", which this process does not have`);
      return undefined;
    }
  }
  return applicable;
}

function resolverKnown(name: string, custom: ReadonlyMap<string, Resolver>): boolean {
  try {
    lookupResolver(name, custom);
    return true;
  } catch {
    return false;
  }
}

export interface RetryOptions extends MergeOptions {
  /**
   * Retry only entries held for their stamp that are inside the drift allowance now (what the
   * sync node does as time passes); otherwise every held entry. @default false
   */
  dueOnly?: boolean;
  /** Retry at most this many entries (the lowest ids first). @default every one */
  limit?: number;
  /** Retry only entries with an id above this one: `lastId` of the previous slice. @default 0 */
  afterId?: number;
  /** Retry only entries with an id up to this one (entries held again get new ids above it). @default no bound */
  upToId?: number;
}

export interface RetryResult extends MergeResult {
  /** Entries taken out of the quarantine (those that still cannot apply are held again, under new ids). */
  retried: number;
  /** The id of the last entry read: pass it as `afterId` to go on with the next slice. */
  lastId: number;
  /** Rows read in this slice: fewer than `limit` means the quarantine has no more. */
  scanned: number;
  /**
   * Held rows left where they are because they cannot be read (damaged) or today's bounds refuse
   * them (held by an older version): one error each. They never stop a retry or an open.
   */
  unreadable: Error[];
}

/**
 * Retries quarantined entries (after a migration added their table or column, or once time has
 * brought their stamps inside the allowance). Entries that still cannot apply go straight back to
 * quarantine. `{ maxDriftMs }` larger than the default accepts entries from a device whose stamps
 * ran ahead (docs/decisions.md, "Clock drift").
 */
export function retryQuarantined(db: DatabaseHandle, options: RetryOptions = {}): RetryResult {
  const raw = connectionOf(db);
  const selection: QuarantineSelection = {};
  if (options.dueOnly === true) {
    const wallMs = Math.floor((options.now ?? Date.now)());
    const horizon = driftHorizon(wallMs, options.maxDriftMs ?? DEFAULT_MAX_DRIFT_MS);
    if (horizon === '') return { applied: 0, unchanged: 0, quarantined: [], errors: [], retried: 0, lastId: options.afterId ?? 0, scanned: 0, unreadable: [] };
    selection.dueBy = parseHlc(horizon);
  }
  if (options.limit !== undefined) selection.limit = options.limit;
  if (options.afterId !== undefined) selection.afterId = options.afterId;
  if (options.upToId !== undefined) selection.upToId = options.upToId;
  return raw.withStorageErrors('retrying held-back entries', () =>
    raw.transaction(() => {
      const { entries, lastId, scanned, unreadable } = takeQuarantined(raw, selection);
      return { ...applyEntries(raw, entries, options), retried: entries.length, lastId, scanned, unreadable };
    }),
  );
}
