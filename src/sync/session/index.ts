// The transport-agnostic sync session: frame channels, runSyncSession, the live log watcher.
export { createMemoryChannelPair, type FrameChannel, type MemoryChannelOptions } from './channel.ts';
export { createFramedChannel, type ByteChannel, type FramedChannelOptions } from './framed-channel.ts';
export { runSyncSession, type SyncProgress, type SyncSessionOptions, type SyncSessionResult } from './session.ts';
export { OplogWatcher } from './watcher.ts';
