/**
 * getOplogEntriesSince, the public export: capture is brought up to date first (another connection
 * may have altered a synced table), then the log is read.
 */
import { refreshCaptureIfStale } from '../capture/install.ts';
import { parseCursor } from '../oplog/cursor.ts';
import { exportOplog, type ExportOptions, type OplogExport } from '../oplog/export.ts';
import { connectionOf, type DatabaseHandle } from '../sqlite/index.ts';

export function getOplogEntriesSince(db: DatabaseHandle, since?: string, options: ExportOptions = {}): OplogExport {
  const raw = connectionOf(db);
  const from = parseCursor(since);
  refreshCaptureIfStale(raw);
  return exportOplog(raw, from, options);
}
