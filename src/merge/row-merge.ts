/**
 * The per-row part of merge: given the entries a batch holds for one row and the row's local
 * history, decide what wins, write the app table and log the winners. Histories are loaded for a
 * whole batch at once, so an initial sync into an empty database costs one query per table chunk
 * instead of one per row.
 */
import { quoteIdent, type SqliteConnection, type SqliteStatement } from '../sqlite/index.ts';
import { hlcHalf, packHlc } from '../clock/timestamp.ts';
import type { CapturedTable } from '../oplog/catalog.ts';
import { OP } from '../oplog/format.ts';
import { ixOfCl, overBothIndexesByKeys } from '../oplog/log-index.ts';
import { historyKeyLists, isCanonicalUuid, keyFromLog } from '../oplog/log-key.ts';
import { InvalidEntryError } from '../errors.ts';
import { compareCellClocks, type CellClock } from '../oplog/register-order.ts';
import { decodeClockGroups, encodeClockGroups, GROUP_BYTES, writeClockGroup, type ClockGroup } from '../oplog/clock-groups.ts';
import { isTooLarge, type IndexedGroup } from '../oplog/entry.ts';
import { lookupResolver, type Resolver } from '../schema/resolvers.ts';
import { SiteTable } from '../oplog/sites.ts';
import { shapeOf } from './shape.ts';
import { fromSqlite, sqlValuesEqual, type SqlValue } from '../sqlite/values.ts';

/**
 * A validated group of an entry of the batch. It is also the clock of the cells it writes (a
 * group's copy has cl, hlc and device): no second object per group. Its mask is set for tables of
 * up to 31 columns.
 */
export interface Incoming extends IndexedGroup, CellClock {}

interface LocalRow {
  cl: number;
  cells: Map<string, CellClock>;
  /** The stamp of the delete that ended the row's highest deleted incarnation. */
  deleted?: CellClock;
}

const EMPTY: LocalRow = { cl: 0, cells: new Map() };
/** New app rows per INSERT statement (at most 63 parameters each). */
const ROW_BATCH = 64;

/** New rows of one table that set the same columns, waiting for one multi-row INSERT. */
interface NewRows {
  table: CapturedTable;
  mask: bigint;
  /** The mask's columns in bit order. */
  columns: readonly string[];
  /** Values bound per row: the key, then the columns. */
  width: number;
  /** The rows' bound values, back to back. */
  args: SqlValue[];
  /** Batch index of each row's first entry, to name it if the table refuses the row. */
  indexes: number[];
}

/** Log rows per INSERT statement (LOG_COLUMNS parameters each; SQLite allows 32766 per statement). */
const LOG_BATCH = 64;
/**
 * One log row of flushLog: seq; the stamp from its high and low 32 bits; site, table; the key,
 * packed (log-key.ts) when the flag says it is a UUID of a first incarnation, else as it is (the
 * key is bound twice, for either branch); op, causal length, mask, more, ix.
 */
const LOG_ROW_VALUES = "(?, (? << 32) | ?, ?, ?, iif(?, unhex(?, '-'), ?), ?, ?, ?, ?, ?)";
/** Parameters per LOG_ROW_VALUES. */
const LOG_COLUMNS = 13;

/** Cells of a row that one write stamped. */
interface Stamped {
  clock: CellClock;
  mask: bigint;
}
/** Keys per history query: json_each keeps the statement text fixed whatever the batch size. */
const HISTORY_CHUNK = 500;

export class RowMerger {
  private readonly sites: SiteTable;
  private seq: bigint;
  /** New rows not written yet, by table and number mask: one statement per ROW_BATCH rows. */
  private readonly newRows = new Map<CapturedTable, Map<number, NewRows>>();
  /** Log rows not written yet: one statement per LOG_BATCH rows costs less than one per row. */
  private readonly pendingLog: SqlValue[] = [];
  /** App-table write statements by table and column mask, for this call. */
  private readonly writes = new Map<CapturedTable, { replace: Map<bigint, SqliteStatement>; upsert: Map<bigint, SqliteStatement> }>();

  /**
   * `tooLarge` is told of a cell whose resolver joined it with the row's value into one past the
   * value limit: the cell is left as it was, since no peer would take the joined value (export
   * could never send it, and the row's every later change with it).
   */
  constructor(
    private readonly raw: SqliteConnection,
    wallMs: number,
    private readonly custom: ReadonlyMap<string, Resolver>,
    private readonly tooLarge: (group: Incoming, column: string) => void = () => {},
  ) {
    this.sites = new SiteTable(raw);
    const maxSeq = (raw.cached('SELECT max(seq) FROM ahenk_oplog').value() as bigint | null) ?? 0n;
    const received = raw.cached('SELECT hlc FROM ahenk_clock WHERE id = 0').value() as bigint;
    // Logged merge entries take local seqs after everything logged or received so far.
    this.seq = [packHlc(wallMs, 0), maxSeq + 1n, received + 1n].reduce((a, b) => (b > a ? b : a)) - 1n;
  }

  /** Local causal length and cell clocks of the given rows of one table (absent rows: none). */
  loadHistories(table: CapturedTable, pks: readonly string[]): Map<string, LocalRow> {
    const histories = new Map<string, LocalRow>();
    const query = this.raw.cached(overBothIndexesByKeys("SELECT pk, printf('%016x', coalesce(hlc, seq)), site, cl, cols, more FROM ahenk_oplog"));
    for (let start = 0; start < pks.length; start += HISTORY_CHUNK) {
      const keys = pks.slice(start, start + HISTORY_CHUNK);
      const { packed, text } = historyKeyLists(keys);
      for (const [logKey, hlc, site, bigCl, cols, more] of query.iterateValues(table.id, JSON.stringify(keys), table.id, packed, text) as IterableIterator<[string | Uint8Array, string, bigint, bigint, bigint, Uint8Array | null]>) {
        const pk = keyFromLog(logKey);
        const cl = Number(bigCl);
        let row = histories.get(pk);
        if (!row) histories.set(pk, (row = { cl: 0, cells: new Map() }));
        if (cl > row.cl) row.cl = cl;
        if (cl % 2 === 0) {
          const clock = { cl, hlc, device: this.sites.device(Number(site)) };
          if (row.deleted === undefined || compareCellClocks(clock, row.deleted) > 0) row.deleted = clock;
        }
        this.holdCells(table, row, { cl, hlc, device: this.sites.device(Number(site)) }, cols);
        if (more) for (const group of decodeClockGroups(more)) this.holdCells(table, row, { cl, hlc: group.hlc, device: this.sites.device(group.site) }, group.mask);
      }
    }
    // Cells written in an earlier incarnation of a row no longer count.
    for (const row of histories.values()) for (const [column, clock] of row.cells) if (clock.cl !== row.cl) row.cells.delete(column);
    return histories;
  }

  /** Records the clock for the cells of the mask where it beats what the row holds. */
  private holdCells(table: CapturedTable, row: LocalRow, clock: CellClock, mask: bigint): void {
    if (mask === 0n) return;
    for (let i = 0; i < table.columns.length; i++) {
      if ((mask & (1n << BigInt(i))) === 0n) continue;
      const column = table.columns[i]!;
      const held = row.cells.get(column);
      if (!held || compareCellClocks(clock, held) > 0) row.cells.set(column, clock);
    }
  }

  /** Returns whether the row (or its metadata) changed. */
  /**
   * Applies a row's incoming entries; returns how many of them changed something (a cell they won,
   * the row's incarnation or its delete stamp): a duplicate or a loser changed nothing.
   */
  applyRow(table: CapturedTable, pk: string, incoming: readonly Incoming[], local: LocalRow = EMPTY): number {
    let newCl = local.cl;
    for (const e of incoming) if (e.cl > newCl) newCl = e.cl;
    // Entries of an incarnation older than the row's are stale, whether they come alone or not.
    let current = incoming;
    for (const e of incoming) {
      if (e.cl !== newCl) {
        current = incoming.filter((other) => other.cl === newCl);
        break;
      }
    }
    if (current.length === 0) return 0;

    if (newCl % 2 === 0) {
      if (newCl === local.cl) {
        // Two devices deleted the same incarnation: the table agrees already, but the delete's
        // register must too, or the devices export different stamps for the row forever.
        const latest = latestClock(current);
        if (local.deleted !== undefined && compareCellClocks(latest, local.deleted) <= 0) return 0;
        this.appendLog(table, pk, OP.delete, [{ clock: latest, mask: 0n }]);
        return 1;
      }
      this.raw.cached(`DELETE FROM ${quoteIdent(table.name)} WHERE ${quoteIdent(table.pkColumn)} = ?`).run(pk);
      this.appendLog(table, pk, OP.delete, [{ clock: latestClock(current), mask: 0n }]);
      return 1;
    }
    const reborn = newCl > local.cl;
    if (reborn && this.applyNewRow(table, pk, current)) return entriesIn(current);

    // `by`: the incoming entry that set the cell (a resolver's join may keep the held stamp).
    const winners = new Map<string, { value: SqlValue; clock: CellClock; by: number }>();
    let liveRow: Map<string, SqlValue> | undefined;
    for (const clock of current) {
      for (const column in clock.values) {
        const value = clock.values[column]!;
        const won = winners.get(column);
        const held = won?.clock ?? (reborn ? undefined : local.cells.get(column));
        const resolverName = table.resolvers.get(column);
        const resolver = resolverName === undefined ? undefined : lookupResolver(resolverName, this.custom);
        if (!held) {
          winners.set(column, { value, clock, by: clock.index });
        } else if (resolver) {
          liveRow ??= won ? undefined : this.readRow(table, pk);
          const mine = won ? won.value : (liveRow?.get(column) ?? null);
          // A join of a value with itself is that value (idempotence), whatever the resolver makes of
          // it: union is a join only on the sets it produces, and a write delivered again (a resent
          // window) onto a row it created would otherwise turn a blob or plain text into a JSON array.
          const joined = sqlValuesEqual(mine, value) ? mine : resolver.resolve(mine, value);
          if (isTooLarge(joined)) {
            this.tooLarge(clock, column);
            continue;
          }
          const later = compareCellClocks(clock, held) > 0 ? clock : held;
          if (!sqlValuesEqual(joined, mine) || later !== held) winners.set(column, { value: joined, clock: later, by: clock.index });
        } else if (compareCellClocks(clock, held) > 0) {
          winners.set(column, { value, clock, by: clock.index });
        }
      }
    }
    if (!reborn && winners.size === 0) return 0;
    this.writeRow(table, pk, winners, reborn);

    // Winners from one entry share its clock object, so grouping by identity needs no key strings.
    const groups = new Map<CellClock, bigint>();
    for (const [column, { clock }] of winners) groups.set(clock, (groups.get(clock) ?? 0n) | columnBit(table, column));
    if (reborn && groups.size === 0) groups.set(latestClock(current), 0n);
    this.appendLog(table, pk, reborn ? OP.insert : OP.update, Array.from(groups, ([clock, mask]) => ({ clock, mask })));
    if (winners.size === 0) return 1;
    const by = new Set<number>();
    for (const winner of winners.values()) by.add(winner.by);
    return by.size;
  }

  /**
   * The common case of an initial sync: a row this device has never seen, whose entries set
   * disjoint columns (what an export produces). Every value wins; no register comparison needed.
   * Returns false (and writes nothing) when the entries overlap or the table is wider than a number
   * mask, for the general path to decide.
   */
  private applyNewRow(table: CapturedTable, pk: string, current: readonly Incoming[]): boolean {
    // Masks as plain numbers while a table's columns fit in 31 bits (nearly always): no BigInt per
    // cell. A wider table takes the general path, which handles new rows too.
    const shape = shapeOf(table);
    if (!shape.small) return false;
    let union = 0;
    for (let i = 0; i < current.length; i++) {
      const mask = current[i]!.mask;
      if ((mask & union) !== 0) return false;
      union |= mask;
    }
    const pending = this.pendingNewRows(table, union);
    const args = pending.args;
    args.push(pk);
    if (current.length === 1) {
      const values = current[0]!.values;
      for (const column of pending.columns) args.push(values[column]!);
    } else {
      for (let c = 0; c < pending.columns.length; c++) {
        const column = pending.columns[c]!;
        const bit = shape.bits.get(column)!;
        let holder = 0;
        while ((current[holder]!.mask & bit) === 0) holder++;
        args.push(current[holder]!.values[column]!);
      }
    }
    pending.indexes.push(current[0]!.index);
    if (pending.indexes.length === ROW_BATCH) this.flushRows(pending);
    this.logNewRow(table, pk, current);
    return true;
  }

  /** The pending INSERT for new rows of one table that set exactly the columns of `mask`. */
  private pendingNewRows(table: CapturedTable, mask: number): NewRows {
    let pending = this.newRows.get(table);
    if (!pending) this.newRows.set(table, (pending = new Map()));
    let rows = pending.get(mask);
    if (!rows) {
      const bigMask = BigInt(mask);
      const columns = columnsOf(table, bigMask);
      pending.set(mask, (rows = { table, mask: bigMask, columns, width: columns.length + 1, args: [], indexes: [] }));
    }
    return rows;
  }

  /**
   * The log row of a new row from number masks: the first entry that set columns goes in the row's
   * own columns, the others in `more`, written straight from their hex stamps.
   */
  private logNewRow(table: CapturedTable, pk: string, current: readonly Incoming[]): void {
    let first = -1;
    let extra = 0;
    for (let i = 0; i < current.length; i++) {
      if (current[i]!.mask === 0) continue;
      if (first < 0) first = i;
      else extra++;
    }
    // The row's causal length must be on record even when no entry set a column.
    if (first < 0) {
      this.appendLog(table, pk, OP.insert, [{ clock: latestClock(current), mask: 0n }]);
      return;
    }
    let more: Uint8Array | null = null;
    if (extra > 0) {
      more = new Uint8Array(extra * GROUP_BYTES);
      let at = 0;
      for (let i = first + 1; i < current.length; i++) {
        const clock = current[i]!;
        if (clock.mask === 0) continue;
        writeClockGroup(more, at, clock.hlc, this.sites.siteOf(clock.device), 0, clock.mask);
        at += GROUP_BYTES;
      }
    }
    const clock = current[first]!;
    this.queueLog(clock.hlc, this.sites.siteOf(clock.device), table.id, pk, OP.insert, clock.cl, clock.mask, more);
  }

  /** The row's live values by column, read as an array: a row object loses a column named "__proto__". */
  private readRow(table: CapturedTable, pk: string): Map<string, SqlValue> | undefined {
    const columns = table.liveColumns;
    const select = columns.length > 0 ? columns.map(quoteIdent).join(', ') : '1';
    const values = this.raw.cached(`SELECT ${select} FROM ${quoteIdent(table.name)} WHERE ${quoteIdent(table.pkColumn)} = ?`).getValues(pk);
    if (values === undefined) return undefined;
    return new Map(columns.map((column, i) => [column, fromSqlite(values[i])]));
  }

  private writeRow(table: CapturedTable, pk: string, winners: Map<string, { value: SqlValue }>, reborn: boolean): void {
    let mask = 0n;
    for (const column of winners.keys()) mask |= columnBit(table, column);
    const args: SqlValue[] = [pk];
    for (const column of columnsOf(table, mask)) args.push(winners.get(column)!.value);
    this.writeStatement(table, mask, reborn).run(...args);
  }

  /** The write for a set of columns (bound in bit order), cached by its mask for this call. */
  private writeStatement(table: CapturedTable, mask: bigint, reborn: boolean): SqliteStatement {
    let cache = this.writes.get(table);
    if (!cache) this.writes.set(table, (cache = { replace: new Map(), upsert: new Map() }));
    const byMask = reborn ? cache.replace : cache.upsert;
    let statement = byMask.get(mask);
    if (statement) return statement;
    const columns = columnsOf(table, mask);
    const names = [quoteIdent(table.pkColumn), ...columns.map(quoteIdent)];
    const target = `${quoteIdent(table.name)} (${names.join(', ')}) VALUES (${names.map(() => '?').join(', ')})`;
    if (reborn) {
      // A new incarnation starts from the defaults: REPLACE drops whatever the old one held.
      statement = this.raw.cached(`INSERT OR REPLACE INTO ${target}`);
    } else {
      const set = columns.map((c) => `${quoteIdent(c)} = excluded.${quoteIdent(c)}`).join(', ');
      statement = this.raw.cached(`INSERT INTO ${target} ON CONFLICT (${quoteIdent(table.pkColumn)}) DO UPDATE SET ${set}`);
    }
    byMask.set(mask, statement);
    return statement;
  }

  private flushRows(group: NewRows): void {
    const { table, mask, columns, width, args, indexes } = group;
    if (indexes.length === 0) return;
    const names = [quoteIdent(table.pkColumn), ...columns.map(quoteIdent)];
    const tuple = `(${names.map(() => '?').join(', ')})`;
    const many = this.raw.cached(`INSERT OR REPLACE INTO ${quoteIdent(table.name)} (${names.join(', ')}) VALUES ${Array(indexes.length).fill(tuple).join(', ')}`);
    try {
      many.run(...args);
    } catch (error) {
      // Only a constraint is an entry's fault; and once SQLite has rolled the transaction back
      // itself (RAISE(ROLLBACK), a full disk), a replay would write outside it.
      if (!this.raw.isConstraintError(error) || !this.raw.inTransaction) throw error;
      // The failed statement left nothing behind; replay row by row to name the entry at fault.
      const single = this.writeStatement(table, mask, true);
      for (let row = 0; row < indexes.length; row++) {
        try {
          single.run(...args.slice(row * width, (row + 1) * width));
        } catch (rowError) {
          throw new InvalidEntryError(indexes[row]!, `table "${table.name}" refused row "${String(args[row * width]).slice(0, 64)}": ${(rowError as Error).message}`);
        }
      }
      throw error;
    }
    args.length = 0;
    indexes.length = 0;
  }

  /**
   * Queues the one log row of a merged row: its first group in the row's own columns, the others
   * in `more` (the groups share the causal length). Rows go in by LOG_BATCH per statement.
   */
  private appendLog(table: CapturedTable, pk: string, op: number, groups: readonly Stamped[]): void {
    const { clock, mask } = groups[0]!;
    let more: Uint8Array | null = null;
    if (groups.length > 1) {
      const extra: ClockGroup[] = [];
      for (let i = 1; i < groups.length; i++) extra.push({ hlc: groups[i]!.clock.hlc, site: this.sites.siteOf(groups[i]!.clock.device), mask: groups[i]!.mask });
      more = encodeClockGroups(extra);
    }
    this.queueLog(clock.hlc, this.sites.siteOf(clock.device), table.id, pk, op, clock.cl, mask, more);
  }

  private queueLog(hlc: string, site: number, tbl: number, pk: string, op: number, cl: number, mask: bigint | number, more: Uint8Array | null): void {
    this.seq += 1n;
    // The stamp as its two halves and a UUID key as text to pack: SQL joins and unhexes them (see
    // flushLog), so a log row costs no BigInt and no 16-byte array here.
    const hi = hlcHalf(hlc, 0);
    const lo = hlcHalf(hlc, 8);
    // Every stamp merge takes was checked (isHlcString); one from a damaged log row that is logged
    // again must fail as parseHlc would, not be written as another number.
    if (hi < 0 || hi > 0x7fffffff || lo < 0 || hlc.length !== 16) throw new RangeError(`not an HLC timestamp: ${JSON.stringify(hlc.slice(0, 40))}`);
    const packed = cl === 1 && isCanonicalUuid(pk) ? 1 : 0;
    this.pendingLog.push(this.seq, hi, lo, site, tbl, packed, pk, pk, op, cl, mask, more, ixOfCl(cl));
    if (this.pendingLog.length === LOG_BATCH * LOG_COLUMNS) this.flushLog();
  }

  /** Writes queued rows and log rows; call before anything reads them or the transaction ends. */
  flush(): void {
    for (const groups of this.newRows.values()) for (const group of groups.values()) this.flushRows(group);
    this.flushLog();
  }

  private flushLog(): void {
    const rows = this.pendingLog.length / LOG_COLUMNS;
    if (rows === 0) return;
    this.raw.cached(`INSERT INTO ahenk_oplog (seq, hlc, site, tbl, pk, op, cl, cols, more, ix) VALUES ${Array(rows).fill(LOG_ROW_VALUES).join(', ')}`).run(
      ...this.pendingLog,
    );
    this.pendingLog.length = 0;
  }
}

function latestClock(entries: readonly Incoming[]): CellClock {
  let latest: CellClock = entries[0]!;
  for (const clock of entries) if (compareCellClocks(clock, latest) > 0) latest = clock;
  return latest;
}

const bitCache = new WeakMap<CapturedTable, Map<string, bigint>>();
const maskColumns = new WeakMap<CapturedTable, Map<bigint, string[]>>();

/** The columns of a mask, in bit order (the order write statements bind them). */
function columnsOf(table: CapturedTable, mask: bigint): string[] {
  let cache = maskColumns.get(table);
  if (!cache) maskColumns.set(table, (cache = new Map()));
  let columns = cache.get(mask);
  if (!columns) cache.set(mask, (columns = table.columns.filter((_, i) => (mask & (1n << BigInt(i))) !== 0n)));
  return columns;
}

function columnBit(table: CapturedTable, column: string): bigint {
  let bits = bitCache.get(table);
  if (!bits) bitCache.set(table, (bits = new Map(table.columns.map((c, i) => [c, 1n << BigInt(i)]))));
  return bits.get(column)!;
}

/** The entries a row's groups came from (groups arrive in batch order, an entry's together). */
function entriesIn(groups: readonly Incoming[]): number {
  let count = groups.length === 0 ? 0 : 1;
  for (let i = 1; i < groups.length; i++) if (groups[i]!.index !== groups[i - 1]!.index) count++;
  return count;
}
