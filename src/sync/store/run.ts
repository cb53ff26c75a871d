/** runSyncSession: the transport-agnostic session on an Ahenk database (what the libp2p node runs). */
import { connectionOf, type DatabaseHandle } from '../../sqlite/index.ts';
import { runSession, type SyncSessionOptions, type SyncSessionResult } from '../session/session.ts';
import type { FrameChannel } from '../session/channel.ts';
import { SqliteSyncStore } from './sqlite-store.ts';

export function runSyncSession(db: DatabaseHandle, channel: FrameChannel, options: SyncSessionOptions): Promise<SyncSessionResult> {
  return runSession(new SqliteSyncStore(connectionOf(db), options.pollIntervalMs), channel, options);
}
