/**
 * What merge needs to know of a synced table for every entry, worked out once per table: each live
 * column's mask bit as a JS number (tables of up to 31 columns, nearly all), and whether any value
 * needs a check beyond its column being known.
 */
import type { CapturedTable } from '../oplog/catalog.ts';

/** Columns whose bits a JS number mask holds (bit 31 would make it negative). */
export const SMALL_MASK_COLUMNS = 31;

export interface TableShape {
  /** Each live column's mask bit, 1 << (its index in table.columns); 0 when the table is not small. */
  bits: ReadonlyMap<string, number>;
  /** The table's masks fit a number (at most SMALL_MASK_COLUMNS columns). */
  small: boolean;
  /** No NOT NULL columns and no resolvers: nothing to check per value. */
  plain: boolean;
}

const shapes = new WeakMap<CapturedTable, TableShape>();

/** Cached per catalog entry: a schema change loads a new catalog, so a new shape. */
export function shapeOf(table: CapturedTable): TableShape {
  let shape = shapes.get(table);
  if (!shape) {
    const small = table.columns.length <= SMALL_MASK_COLUMNS;
    const bits = new Map(table.liveColumns.map((c) => [c, small ? 1 << table.columns.indexOf(c) : 0]));
    shape = { bits, small, plain: table.notNull.size === 0 && table.resolvers.size === 0 };
    shapes.set(table, shape);
  }
  return shape;
}
