// The transport-agnostic sync session: frame channels and the session over a SyncStore.
export { createMemoryChannelPair, type FrameChannel, type MemoryChannelOptions } from './channel.ts';
export { createFramedChannel, type ByteChannel, type FramedChannelOptions } from './framed-channel.ts';
export { runSession, type SyncProgress, type SyncSessionOptions, type SyncSessionResult } from './session.ts';
export type { AppliedBatch, AppliedGroup, ExportWindow, ReceivedBatch, SnapshotWindow, SyncStore } from './store.ts';
export type { DatabaseTurn } from './turn.ts';
