/** Identifier quoting for the few places where a validated name must be spliced into SQL. */
export function quoteIdent(name: string): string {
  if (name.includes('\0')) throw new TypeError('identifier contains NUL');
  return `"${name.replaceAll('"', '""')}"`;
}

/** Op codes stored in ahenk_oplog.op. */
export const OP = { insert: 1, update: 2, delete: 3 } as const;
export type OpName = keyof typeof OP;
export const OP_NAMES: Record<number, OpName> = { 1: 'insert', 2: 'update', 3: 'delete' };
