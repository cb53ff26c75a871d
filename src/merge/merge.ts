/**
 * merge: applies remote entries in one transaction. Per cell, the write with the highest
 * (causal length, HLC, device) wins, or the column's resolver joins the values; per row, the
 * highest causal length decides whether it exists. Entries for tables or columns this database
 * does not have yet, or stamped too far in the future, are quarantined, never dropped.
 */
import type { Database, Statement } from 'better-sqlite3';
import { hlcMs, packHlc, parseHlc } from '../clock/timestamp.ts';
import { DEFAULT_MAX_DRIFT_MS } from '../clock/hybrid-logical-clock.ts';
import { ClockDriftError } from '../clock/errors.ts';
import { loadCatalog, type CapturedTable } from '../capture/metadata.ts';
import { foldOplog } from '../capture/fold.ts';
import { refreshCapture } from '../capture/install.ts';
import { OP, quoteIdent } from '../capture/sql.ts';
import { INDEXED } from '../capture/triggers.ts';
import { InvalidEntryError } from '../errors.ts';
import { clientOf, type DatabaseHandle } from '../database/handle.ts';
import { clockKey, compareCellClocks, type CellClock } from './cell-clock.ts';
import { validateEntry, type OplogEntry } from './entry.ts';
import { applyQuarantined, quarantine, type QuarantineReason } from './quarantine.ts';
import { customResolversOf } from './registry.ts';
import { lookupResolver, type Resolver } from './resolvers.ts';
import { SiteTable } from './sites.ts';
import { fromSqlite, sqlValuesEqual, type SqlValue } from './values.ts';

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
  quarantined: QuarantinedEntry[];
  /** Clock errors among the quarantined entries, for the caller to report. */
  errors: ClockDriftError[];
}

export function merge(db: DatabaseHandle, entries: readonly unknown[], options: MergeOptions = {}): MergeResult {
  const raw = clientOf(db);
  if (!Array.isArray(entries)) throw new InvalidEntryError(-1, 'merge expects an array of entries');
  const valid = entries.map((entry, index) => validateEntry(entry, index));
  return raw.transaction(() => applyEntries(raw, valid, options)).immediate();
}

/** Applies validated entries; the caller owns the transaction. */
export function applyEntries(raw: Database, entries: readonly OplogEntry[], options: MergeOptions): MergeResult {
  const result: MergeResult = { applied: 0, unchanged: 0, quarantined: [], errors: [] };
  if (entries.length === 0) return result;
  const now = options.now ?? Date.now;
  const maxDriftMs = options.maxDriftMs ?? DEFAULT_MAX_DRIFT_MS;
  if (loadCatalog(raw).stale) refreshCapture(raw);
  foldOplog(raw);
  const ctx = new MergeContext(raw, now());
  const hold = (index: number, entry: OplogEntry, reason: QuarantineReason, message: string) => {
    quarantine(raw, entry, reason, message);
    result.quarantined.push({ index, table: entry.table, pk: entry.pk, reason, message });
  };

  raw.prepare('INSERT INTO ahenk_apply_guard (id) VALUES (1)').run();
  const rows = new Map<string, { table: CapturedTable; pk: string; entries: { index: number; entry: OplogEntry }[] }>();
  let maxSeen = 0n;
  entries.forEach((entry, index) => {
    const table = ctx.catalog.byName.get(entry.table);
    if (!table) return hold(index, entry, 'unknown-table', `table "${entry.table}" is not synced here (yet)`);
    const stamp = parseHlc(entry.hlc);
    const aheadMs = hlcMs(stamp) - ctx.wallMs;
    if (aheadMs > maxDriftMs) {
      const error = new ClockDriftError(entry.hlc, aheadMs, maxDriftMs);
      result.errors.push(error);
      return hold(index, entry, 'clock-drift', error.message);
    }
    const unknown = Object.keys(entry.values).filter((c) => !table.liveColumns.includes(c));
    let applicable = entry;
    if (unknown.length > 0) {
      // Split: known columns apply now, the rest waits for the migration that adds them.
      const later = Object.fromEntries(unknown.map((c) => [c, entry.values[c]!]));
      hold(index, { ...entry, values: later }, 'unknown-column', `columns ${unknown.map((c) => `"${c}"`).join(', ')} of "${entry.table}" are not here (yet)`);
      applicable = { ...entry, values: Object.fromEntries(Object.entries(entry.values).filter(([c]) => !unknown.includes(c))) };
    }
    const nulled = Object.keys(applicable.values).find((c) => applicable.values[c] === null && table.notNull.has(c));
    if (nulled !== undefined) throw new InvalidEntryError(index, `column "${entry.table}"."${nulled}" is NOT NULL here but the entry sets it to NULL`);
    const unresolved = Object.keys(applicable.values).find((c) => !ctx.resolverKnown(table, c));
    if (unresolved !== undefined) {
      return hold(index, applicable, 'unknown-resolver', `column "${entry.table}"."${unresolved}" uses resolver "${table.resolvers[unresolved]}", which this process does not have`);
    }
    if (stamp > maxSeen) maxSeen = stamp;
    const key = `${table.id}\u0000${entry.pk}`;
    let row = rows.get(key);
    if (!row) rows.set(key, (row = { table, pk: entry.pk, entries: [] }));
    row.entries.push({ index, entry: applicable });
  });

  for (const row of rows.values()) {
    let changed: boolean;
    try {
      changed = ctx.applyRow(row.table, row.pk, row.entries.map((e) => e.entry));
    } catch (error) {
      // A constraint of the app's table (CHECK, STRICT types) refused the values: the entry is bad.
      if (error instanceof Error && error.name === 'SqliteError') {
        throw new InvalidEntryError(row.entries[0]!.index, `table "${row.table.name}" refused row "${row.pk.slice(0, 64)}": ${error.message}`);
      }
      throw error;
    }
    if (changed) result.applied += row.entries.length;
    else result.unchanged += row.entries.length;
  }
  if (maxSeen > 0n) {
    raw.prepare('UPDATE ahenk_clock SET hlc = ? WHERE id = 0 AND hlc < ?').run(maxSeen, maxSeen);
  }
  raw.prepare('DELETE FROM ahenk_apply_guard').run();
  return result;
}

class MergeContext {
  readonly catalog;
  readonly wallMs: number;
  private readonly sites: SiteTable;
  private readonly custom: ReadonlyMap<string, Resolver>;
  private seq: bigint;
  private readonly statements = new Map<string, Statement>();

  constructor(private readonly raw: Database, wallMs: number) {
    this.catalog = loadCatalog(raw);
    this.wallMs = Math.floor(wallMs);
    this.sites = new SiteTable(raw);
    this.custom = customResolversOf(raw);
    const maxSeq = (raw.prepare('SELECT max(seq) FROM ahenk_oplog').pluck().safeIntegers(true).get() as bigint | null) ?? 0n;
    const received = raw.prepare('SELECT hlc FROM ahenk_clock WHERE id = 0').pluck().safeIntegers(true).get() as bigint;
    this.seq = [packHlc(this.wallMs, 0), maxSeq + 1n, received + 1n].reduce((a, b) => (b > a ? b : a)) - 1n;
  }

  resolverKnown(table: CapturedTable, column: string): boolean {
    const name = table.resolvers[column];
    if (name === undefined || name === 'lww') return true;
    try {
      lookupResolver(name, this.custom);
      return true;
    } catch {
      return false;
    }
  }

  /** Returns whether the row (or its metadata) changed. */
  applyRow(table: CapturedTable, pk: string, incoming: readonly OplogEntry[]): boolean {
    const local = this.localState(table, pk);
    let newCl = local.cl;
    for (const e of incoming) if (BigInt(e.cl) > newCl) newCl = BigInt(e.cl);
    const current = incoming.filter((e) => BigInt(e.cl) === newCl);

    if (newCl % 2n === 0n) {
      if (newCl === local.cl) return false;
      const clock = current.map((e) => clockOf(e)).reduce((a, b) => (compareCellClocks(b, a) > 0 ? b : a));
      this.stmt(`DELETE FROM ${quoteIdent(table.name)} WHERE ${quoteIdent(table.pkColumn)} = ?`).run(pk);
      this.appendLog(table, pk, OP.delete, clock, 0n);
      return true;
    }

    const reborn = newCl > local.cl;
    const winners = new Map<string, { value: SqlValue; clock: CellClock }>();
    let liveRow: Record<string, unknown> | undefined;
    const liveValue = (column: string): SqlValue => {
      liveRow ??= this.stmt(`SELECT * FROM ${quoteIdent(table.name)} WHERE ${quoteIdent(table.pkColumn)} = ?`).safeIntegers(true).get(pk) as Record<string, unknown> | undefined;
      return fromSqlite(liveRow?.[column] ?? null);
    };
    for (const e of current) {
      const clock = clockOf(e);
      for (const [column, value] of Object.entries(e.values)) {
        const won = winners.get(column);
        const held = won?.clock ?? (reborn ? undefined : local.cells.get(column));
        const resolverName = table.resolvers[column];
        const resolver = resolverName === undefined ? undefined : lookupResolver(resolverName, this.custom);
        if (!held) {
          winners.set(column, { value, clock });
        } else if (resolver) {
          const mine = won ? won.value : liveValue(column);
          const joined = resolver.resolve(mine, value);
          const later = compareCellClocks(clock, held) > 0 ? clock : held;
          if (!sqlValuesEqual(joined, mine) || later !== held) winners.set(column, { value: joined, clock: later });
        } else if (compareCellClocks(clock, held) > 0) {
          winners.set(column, { value, clock });
        }
      }
    }
    if (!reborn && winners.size === 0) return false;

    const columns = [...winners.keys()];
    const names = [quoteIdent(table.pkColumn), ...columns.map(quoteIdent)];
    const args = [pk, ...columns.map((c) => bindable(winners.get(c)!.value))];
    if (reborn) {
      // A new incarnation starts from the defaults: REPLACE drops whatever the old one held.
      this.stmt(`INSERT OR REPLACE INTO ${quoteIdent(table.name)} (${names.join(', ')}) VALUES (${names.map(() => '?').join(', ')})`).run(...args);
    } else {
      const set = columns.map((c) => `${quoteIdent(c)} = excluded.${quoteIdent(c)}`).join(', ');
      this.stmt(`INSERT INTO ${quoteIdent(table.name)} (${names.join(', ')}) VALUES (${names.map(() => '?').join(', ')}) ON CONFLICT (${quoteIdent(table.pkColumn)}) DO UPDATE SET ${set}`).run(...args);
    }

    const groups = new Map<string, { clock: CellClock; mask: bigint }>();
    for (const [column, { clock }] of winners) {
      const key = clockKey(clock);
      const group = groups.get(key) ?? { clock, mask: 0n };
      group.mask |= 1n << BigInt(table.columns.indexOf(column));
      groups.set(key, group);
    }
    if (reborn && groups.size === 0) {
      const clock = current.map((e) => clockOf(e)).reduce((a, b) => (compareCellClocks(b, a) > 0 ? b : a));
      groups.set(clockKey(clock), { clock, mask: 0n });
    }
    for (const { clock, mask } of groups.values()) this.appendLog(table, pk, reborn ? OP.insert : OP.update, clock, mask);
    return true;
  }

  private localState(table: CapturedTable, pk: string): { cl: bigint; cells: Map<string, CellClock> } {
    const history = this.stmt(`SELECT seq, hlc, site, cl, cols FROM ahenk_oplog WHERE tbl = ? AND pk = ? AND ${INDEXED}`)
      .raw(true)
      .safeIntegers(true)
      .all(table.id, pk) as [bigint, bigint | null, bigint, bigint, bigint][];
    let cl = 0n;
    const cells = new Map<string, CellClock>();
    for (const [seq, hlc, site, entryCl, cols] of history) {
      if (entryCl > cl) cl = entryCl;
      if (cols === 0n) continue;
      const clock: CellClock = { cl: entryCl, hlc: hlc ?? seq, device: this.sites.device(Number(site)) };
      for (let i = 0; i < table.columns.length; i++) {
        if ((cols & (1n << BigInt(i))) === 0n) continue;
        const column = table.columns[i]!;
        const held = cells.get(column);
        if (!held || compareCellClocks(clock, held) > 0) cells.set(column, clock);
      }
    }
    // Cells written in an earlier incarnation of the row no longer count.
    for (const [column, clock] of cells) if (clock.cl !== cl) cells.delete(column);
    return { cl, cells };
  }

  private appendLog(table: CapturedTable, pk: string, op: number, clock: CellClock, mask: bigint): void {
    this.seq += 1n;
    this.stmt('INSERT INTO ahenk_oplog (seq, hlc, site, tbl, pk, op, cl, cols, ix) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)').run(
      this.seq,
      clock.hlc,
      this.sites.siteOf(clock.device),
      table.id,
      pk,
      op,
      clock.cl,
      mask,
    );
  }

  private stmt(sql: string): Statement {
    let statement = this.statements.get(sql);
    if (!statement) this.statements.set(sql, (statement = this.raw.prepare(sql)));
    return statement;
  }
}

function clockOf(entry: OplogEntry): CellClock {
  return { cl: BigInt(entry.cl), hlc: parseHlc(entry.hlc), device: entry.device };
}

/** better-sqlite3 wants Buffers for blobs; numbers bind as REAL and bigints as INTEGER, as in the entry. */
function bindable(value: SqlValue): unknown {
  return value instanceof Uint8Array && !Buffer.isBuffer(value) ? Buffer.from(value.buffer, value.byteOffset, value.byteLength) : value;
}

/** Retries quarantined entries (after a migration added their table or column, or time caught up). */
export function retryQuarantined(db: DatabaseHandle, options: MergeOptions = {}): MergeResult {
  return applyQuarantined(db, applyEntries, options);
}
