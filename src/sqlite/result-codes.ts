/**
 * SQLite's result codes by name, for drivers that give only the number, and which of them mean that
 * the file could not be written or read (a full disk, read-only media, an I/O error).
 */
import type { StorageErrorCode } from '../errors.ts';

/** The primary result codes (sqlite3.h); an extended code's low byte is its primary code. */
const PRIMARY_NAMES = [
  'SQLITE_OK', 'SQLITE_ERROR', 'SQLITE_INTERNAL', 'SQLITE_PERM', 'SQLITE_ABORT', 'SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_NOMEM',
  'SQLITE_READONLY', 'SQLITE_INTERRUPT', 'SQLITE_IOERR', 'SQLITE_CORRUPT', 'SQLITE_NOTFOUND', 'SQLITE_FULL', 'SQLITE_CANTOPEN',
  'SQLITE_PROTOCOL', 'SQLITE_EMPTY', 'SQLITE_SCHEMA', 'SQLITE_TOOBIG', 'SQLITE_CONSTRAINT', 'SQLITE_MISMATCH', 'SQLITE_MISUSE',
  'SQLITE_NOLFS', 'SQLITE_AUTH', 'SQLITE_FORMAT', 'SQLITE_RANGE', 'SQLITE_NOTADB', 'SQLITE_NOTICE', 'SQLITE_WARNING',
] as const;

/** The name of a result code's primary code ('SQLITE_IOERR' for SQLITE_IOERR_WRITE, 778). */
export function primaryCodeName(resultCode: number): string {
  return PRIMARY_NAMES[resultCode & 0xff] ?? `SQLITE_${resultCode}`;
}

/** Which storage failure a SQLite result code (by name) is, if it is one. */
export function storageFailureOf(sqliteCode: string): StorageErrorCode | undefined {
  if (sqliteCode === 'SQLITE_FULL') return 'DISK_FULL';
  if (sqliteCode === 'SQLITE_READONLY' || sqliteCode.startsWith('SQLITE_READONLY_')) return 'DISK_READ_ONLY';
  if (/^SQLITE_(IOERR|CANTOPEN)(_|$)/.test(sqliteCode)) return 'DISK_IO_ERROR';
  return undefined;
}
