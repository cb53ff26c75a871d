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
import { validateEntry, type OplogEntry, type OpType } from '../oplog/entry.ts';
import { applyEntries, type MergeResult } from './merge.ts';
import type { SqlValue } from '../sqlite/values.ts';

const processClock = new HybridLogicalClock();

export interface BuildOplogEntryOptions {
  /** Column of `data` that holds the row's key. @default 'id' */
  pkColumn?: string;
  /** Clock to stamp with. @default a process-wide HybridLogicalClock */
  clock?: HybridLogicalClock;
}

/** An entry for one write: `data` holds the key column and, for insert/update, the values set. */
export function buildOplogEntry(
  deviceId: string,
  table: string,
  opType: OpType,
  data: Record<string, SqlValue>,
  options: BuildOplogEntryOptions = {},
): OplogEntry {
  const pkColumn = options.pkColumn ?? 'id';
  const pk = data[pkColumn];
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
  return validateEntry(entry, 0);
}

/**
 * Applies one entry. An entry of this device is a local write: it is re-stamped above
 * everything the database has seen and its causal length follows the row's (an insert revives a
 * deleted row), exactly as a trigger would log it. Any other device's entry is merged as is.
 */
export function localApply(db: DatabaseHandle, entry: OplogEntry): MergeResult {
  const raw = connectionOf(db);
  const valid = validateEntry(entry, 0);
  return raw.transaction(() => {
    if (valid.device !== new SiteTable(raw).device(LOCAL_SITE)) return applyEntries(raw, [{ ...valid, index: 0, mask: -1 }], {});
    foldOplog(raw);
    const table = loadCatalog(raw).byName.get(valid.table);
    const rowCl = table
      ? Number(raw.prepare(`SELECT max(cl) FROM ahenk_oplog WHERE tbl = ? AND pk = ? AND ${CL_INDEXED}`).value(table.id, valid.pk) ?? 0)
      : 0;
    const cl = valid.op === 'delete' ? (rowCl | 1) + 1 : valid.op === 'insert' ? rowCl | 1 : Math.max(rowCl, 1);
    const stamp = raw.prepare(`SELECT ${NEXT_SEQ_SQL}`).value() as bigint;
    return applyEntries(raw, [{ ...valid, cl, hlc: formatHlc(stamp), index: 0, mask: -1 }], {});
  });
}
