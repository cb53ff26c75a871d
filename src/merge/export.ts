/**
 * getOplogEntriesSince: what this database holds that a peer at `since` lacks. Entries superseded
 * by later ones (a cell written again, a row deleted) are left out; values are read from the live
 * row, so the log stores clocks, not copies of the data.
 */
import type { Database } from 'better-sqlite3';
import { formatHlc } from '../clock/timestamp.ts';
import { InvalidCursorError } from '../errors.ts';
import { refreshCapture } from '../capture/install.ts';
import { loadCatalog, type CapturedTable } from '../capture/metadata.ts';
import { OP, OP_NAMES, quoteIdent } from '../capture/sql.ts';
import type { OplogEntry } from './entry.ts';
import { SiteTable } from './sites.ts';
import { fromSqlite, type SqlValue } from './values.ts';
import { clientOf, type DatabaseHandle } from '../database/handle.ts';

export interface OplogExport {
  /** In an order that is safe to apply (the order this database logged them). */
  entries: OplogEntry[];
  /** Pass back as `since` to get only what is newer. Opaque. */
  cursor: string;
}

export interface ExportOptions {
  /** Stop after about this many entries (the cursor then points inside the log). @default unlimited */
  limit?: number;
}

export function getOplogEntriesSince(db: DatabaseHandle, since?: string, options: ExportOptions = {}): OplogExport {
  const raw = clientOf(db);
  const from = parseCursor(since);
  if (loadCatalog(raw).stale) refreshCapture(raw);
  return raw.transaction(() => exportFrom(raw, from, options.limit))();
}

export function parseCursor(cursor: string | undefined): bigint {
  if (cursor === undefined || cursor === '') return 0n;
  if (typeof cursor !== 'string' || !/^(0|[1-9][0-9]{0,18})$/.test(cursor)) throw new InvalidCursorError(`not an oplog cursor: ${String(cursor).slice(0, 40)}`);
  const value = BigInt(cursor);
  if (value >= 2n ** 63n) throw new InvalidCursorError('oplog cursor out of range');
  return value;
}

type Row = [seq: bigint, hlc: bigint | null, site: bigint, op: bigint, cl: bigint, cols: bigint, pk: string, ...values: unknown[]];

function exportFrom(raw: Database, from: bigint, limit: number | undefined): OplogExport {
  const catalog = loadCatalog(raw);
  const sites = new SiteTable(raw);
  // With a limit, export a seq window [from, to] so the cursor can resume exactly after it.
  let to: bigint | undefined;
  if (limit !== undefined) {
    const row = raw.prepare('SELECT seq FROM ahenk_oplog WHERE seq > ? ORDER BY seq LIMIT 1 OFFSET ?').pluck().safeIntegers(true).get(from, Math.max(0, limit - 1)) as bigint | undefined;
    to = row;
  }
  const maxSeq = (raw.prepare('SELECT max(seq) FROM ahenk_oplog').pluck().safeIntegers(true).get() as bigint | null) ?? 0n;
  const upTo = to ?? maxSeq;
  const out: { seq: bigint; entry: OplogEntry }[] = [];
  for (const table of catalog.byId.values()) exportTable(raw, table, sites, from, upTo, out);
  out.sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
  const cursor = upTo > from ? upTo : from;
  return { entries: out.map((o) => o.entry), cursor: cursor.toString() };
}

function exportTable(raw: Database, table: CapturedTable, sites: SiteTable, from: bigint, upTo: bigint, out: { seq: bigint; entry: OplogEntry }[]): void {
  const live = table.liveColumns;
  const liveBits = live.map((c) => 1n << BigInt(table.columns.indexOf(c)));
  const liveMask = liveBits.reduce((m, b) => m | b, 0n);
  const t = quoteIdent(table.name);
  const select = live.map((c) => `t.${quoteIdent(c)}`);
  const stmt = raw
    .prepare(
      `SELECT o.seq, o.hlc, o.site, o.op, o.cl, o.cols, o.pk, t.${quoteIdent(table.pkColumn)}${select.map((s) => `, ${s}`).join('')}
       FROM ahenk_oplog AS o LEFT JOIN ${t} AS t ON t.${quoteIdent(table.pkColumn)} = o.pk
       WHERE o.tbl = ? AND o.seq > ? AND o.seq <= ? ORDER BY o.seq DESC`,
    )
    .raw(true)
    .safeIntegers(true);

  // Newest first: the first entry seen for a row fixes its causal length; older entries only
  // contribute columns nothing newer has covered.
  const rows = new Map<string, { cl: bigint; covered: bigint; done: boolean }>();
  for (const r of stmt.iterate(table.id, from, upTo) as IterableIterator<Row>) {
    const [seq, hlc, site, op, cl, cols, pk] = r;
    let state = rows.get(pk);
    if (!state) {
      state = { cl, covered: 0n, done: false };
      rows.set(pk, state);
      if (op === BigInt(OP.delete)) {
        out.push({ seq, entry: makeEntry(table, pk, 'delete', seq, hlc, site, cl, {}, sites) });
        state.done = true;
        continue;
      }
      if (r[7] === null) {
        // Logged as alive but the row is gone: it was deleted while capture was not installed.
        state.done = true;
        continue;
      }
    }
    if (state.done) continue;
    if (cl < state.cl) {
      state.done = true;
      continue;
    }
    const fresh = cols & liveMask & ~state.covered;
    state.covered |= cols;
    if ((state.covered & liveMask) === liveMask) state.done = true;
    // An insert of a row with no columns besides its key still has to travel.
    if (fresh === 0n && !(op === BigInt(OP.insert) && liveMask === 0n)) continue;
    const values: Record<string, SqlValue> = {};
    for (let i = 0; i < live.length; i++) {
      if ((fresh & liveBits[i]!) !== 0n) values[live[i]!] = fromSqlite(r[8 + i]);
    }
    out.push({ seq, entry: makeEntry(table, pk, OP_NAMES[Number(op)]!, seq, hlc, site, cl, values, sites) });
  }
}

function makeEntry(
  table: CapturedTable,
  pk: string,
  op: OplogEntry['op'],
  seq: bigint,
  hlc: bigint | null,
  site: bigint,
  cl: bigint,
  values: Record<string, SqlValue>,
  sites: SiteTable,
): OplogEntry {
  return { table: table.name, pk, op, hlc: formatHlc(hlc ?? seq), device: sites.device(Number(site)), cl: Number(cl), values };
}
