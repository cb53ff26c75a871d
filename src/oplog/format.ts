/**
 * The format of ahenk_oplog that every room shares: op codes, how a local stamp is allocated, and
 * the names of a table's capture triggers (the catalog checks they are there).
 */
import { SQL_WALL_PACKED } from '../clock/timestamp.ts';

/** Op codes stored in ahenk_oplog.op. */
export const OP = { insert: 1, update: 2, delete: 3 } as const;
export type OpName = keyof typeof OP;
export const OP_NAMES: Record<number, OpName> = { 1: 'insert', 2: 'update', 3: 'delete' };

/** The next local stamp: above the wall clock, every logged stamp and every received stamp. */
export const NEXT_SEQ_SQL = `max(${SQL_WALL_PACKED}, coalesce((SELECT max(seq) FROM ahenk_oplog), 0) + 1, coalesce((SELECT hlc FROM ahenk_clock WHERE id = 0), 0) + 1)`;

/** The capture triggers of a synced table, by what they capture. */
export function triggerNames(table: string): { insert: string; update: string; updateKey: string; delete: string } {
  return {
    insert: `ahenk_${table}_insert`,
    update: `ahenk_${table}_update`,
    updateKey: `ahenk_${table}_update_key`,
    delete: `ahenk_${table}_delete`,
  };
}
