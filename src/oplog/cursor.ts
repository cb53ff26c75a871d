/**
 * A cursor into a device's log, as peers hand it back: the decimal seq of the last row a peer has
 * from it ('' or absent for none). Pure, so the sync session can check one without the database.
 */
import { InvalidCursorError } from '../errors.ts';

export function parseCursor(cursor: string | undefined): bigint {
  if (cursor === undefined || cursor === '') return 0n;
  if (typeof cursor !== 'string' || !/^(0|[1-9][0-9]{0,18})$/.test(cursor)) throw new InvalidCursorError(`not an oplog cursor: ${String(cursor).slice(0, 40)}`);
  const value = BigInt(cursor);
  if (value >= 2n ** 63n) throw new InvalidCursorError('oplog cursor out of range');
  return value;
}
