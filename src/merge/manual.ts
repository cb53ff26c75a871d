/**
 * The seed's manual path, for apps that change synced rows without going through SQL writes the
 * triggers see: build an entry, then apply it locally through the same merge rules.
 */
import { formatHlc } from '../clock/timestamp.ts';
import { HybridLogicalClock } from '../clock/hybrid-logical-clock.ts';
import { loadCatalog } from '../oplog/catalog.ts';
import { foldOplog } from '../oplog/fold.ts';
import { NEXT_SEQ_SQL } from '../oplog/format.ts';
import { CL_INDEXED } from '../oplog/log-index.ts';
import { InvalidEntryError } from '../errors.ts';
import { connectionOf, type DatabaseHandle } from '../sqlite/index.ts';
import { LOCAL_SITE, SiteTable } from '../oplog/sites.ts';
import { MAX_CAUSAL_LENGTH, validateIndexedEntry, type OpType } from '../oplog/entry.ts';
import { applyEntries, type MergeResult } from './merge.ts';
import type { SqlValue } from '../sqlite/values.ts';

const processClock = new HybridLogicalClock();

export interface BuildOplogEntryOptions {
  /** Column of `data` that holds the row's key. @default 'id' */
  pkColumn?: string;
  /** Clock to stamp with. @default a process-wide HybridLogicalClock */
  clock?: HybridLogicalClock;
}

/**
 * One write in the seed's per-operation shape, the manual path's input. localApply turns it into
 * the row delta merge applies (one group: this stamp and device, these values).
 */
export interface OplogOperation {
  table: string;
  pk: string;
  op: OpType;
  /** HLC stamp of the write, 16 lower-case hex digits. */
  hlc: string;
  device: string;
  /** Causal length of the row after the write: odd alive, even deleted. */
  cl: number;
  /** Column values the write set; empty for a delete. */
  values: Record<string, SqlValue>;
}

const OPS: ReadonlySet<unknown> = new Set(['insert', 'update', 'delete']);

/** An operation for one write: `data` holds the key column and, for insert/update, the values set. */
export function buildOplogEntry(
  deviceId: string,
  table: string,
  opType: OpType,
  data: Record<string, SqlValue>,
  options: BuildOplogEntryOptions = {},
): OplogOperation {
  const pkColumn = options.pkColumn ?? 'id';
  const pk = Object.hasOwn(data, pkColumn) ? data[pkColumn] : undefined;
  if (typeof pk !== 'string') throw new InvalidEntryError(0, `data.${pkColumn} must hold the row's text key`);
  const values = Object.fromEntries(Object.entries(data).filter(([column]) => column !== pkColumn));
  const entry = {
    table,
    pk,
    op: opType,
    hlc: formatHlc((options.clock ?? processClock).now()),
    device: deviceId,
    cl: opType === 'delete' ? 2 : 1,
    values: opType === 'delete' ? {} : values,
  };
  validateOperation(entry);
  return entry;
}

/** The operation as merge's working copy of a one-group entry; throws InvalidEntryError like merge. */
function validateOperation(value: unknown) {
  if (typeof value !== 'object' || value === null) throw new InvalidEntryError(0, 'not an object');
  const { table, pk, op, hlc, device, cl, values } = value as Record<string, unknown>;
  if (!OPS.has(op)) throw new InvalidEntryError(0, `op must be insert, update or delete, not ${String(op).slice(0, 40)}`);
  if (typeof cl === 'number' && (op === 'delete' ? cl % 2 !== 0 : cl % 2 !== 1)) throw new InvalidEntryError(0, `cl ${cl} contradicts op ${String(op)} (odd means alive, even deleted)`);
  const group = validateIndexedEntry({ table, pk, cl, groups: [{ hlc, device, values }] }, 0)[0]!;
  return { op: op as OpType, group };
}

/**
 * Applies one entry. An entry of this device is a local write: it is re-stamped above
 * everything the database has seen and its causal length follows the row's (an insert revives a
 * deleted row), exactly as a trigger would log it. Any other device's entry is merged as is.
 */
export function localApply(db: DatabaseHandle, entry: OplogOperation): MergeResult {
  const raw = connectionOf(db);
  const { op, group } = validateOperation(entry);
  return raw.transaction(() => {
    if (group.device !== new SiteTable(raw).device(LOCAL_SITE)) return applyEntries(raw, [[group]], {});
    foldOplog(raw);
    const table = loadCatalog(raw).byName.get(group.table);
    const rowCl = table
      ? Number(raw.prepare(`SELECT max(cl) FROM ahenk_oplog WHERE tbl = ? AND pk = ? AND ${CL_INDEXED}`).value(table.id, group.pk) ?? 0)
      : 0;
    // Arithmetic, not `| 1`: JS bit operators cut a causal length above 2^31 to 32 bits.
    const alive = rowCl % 2 === 0 ? rowCl + 1 : rowCl;
    const cl = op === 'delete' ? alive + 1 : op === 'insert' ? alive : Math.max(rowCl, 1);
    // As the triggers do: a causal length past the bound would be refused by every peer.
    if (cl > MAX_CAUSAL_LENGTH) throw new InvalidEntryError(0, `row "${group.pk.slice(0, 64)}" of "${group.table}" is at the causal length limit (${MAX_CAUSAL_LENGTH}); it cannot be ${op === 'delete' ? 'deleted' : 'inserted'} again`);
    const stamp = raw.prepare(`SELECT ${NEXT_SEQ_SQL}`).value() as bigint;
    return applyEntries(raw, [[{ ...group, cl, hlc: formatHlc(stamp) }]], {});
  });
}
