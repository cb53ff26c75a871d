/** runSyncSession: the transport-agnostic session on an Ahenk database (what the libp2p node runs). */
import { connectionOf, type DatabaseHandle } from '../../sqlite/index.ts';
import { runSession, type SyncSessionOptions, type SyncSessionResult } from '../session/session.ts';
import type { FrameChannel } from '../session/channel.ts';
import { SqliteSyncStore, type BatchDrift } from './sqlite-store.ts';

export interface DatabaseSessionOptions extends SyncSessionOptions {
  /** Wall clock for merge's drift check. @default Date.now */
  now?: () => number;
  /** Remote stamps further ahead of our wall clock than this are held back. @default 300000 */
  maxDriftMs?: number;
  /** Writes were held back for their stamps (called once their group has committed). */
  onClockDrift?(drift: BatchDrift): void;
}

export function runSyncSession(db: DatabaseHandle, channel: FrameChannel, options: DatabaseSessionOptions): Promise<SyncSessionResult> {
  const { now, maxDriftMs, onClockDrift, pollIntervalMs } = options;
  const store = new SqliteSyncStore(connectionOf(db), {
    ...(pollIntervalMs === undefined ? {} : { pollIntervalMs }),
    ...(now === undefined ? {} : { now }),
    ...(maxDriftMs === undefined ? {} : { maxDriftMs }),
    ...(onClockDrift === undefined ? {} : { onClockDrift }),
  });
  return runSession(store, channel, options);
}
