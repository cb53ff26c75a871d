// The `ahenk/transport` entry: the sync session without the libp2p node, for other transports and
// tests (a session runs over any frame channel), and the wire protocol's constants. Re-exports only.
export { runSyncSession, type BatchDrift, type DatabaseSessionOptions } from './sync/store/index.ts';
export {
  createFramedChannel,
  createMemoryChannelPair,
  runSession,
  type AppliedBatch,
  type AppliedGroup,
  type ByteChannel,
  type DatabaseTurn,
  type ExportWindow,
  type FrameChannel,
  type FramedChannelOptions,
  type MemoryChannelOptions,
  type ReceivedBatch,
  type SyncProgress,
  type SyncSessionOptions,
  type SyncSessionResult,
  type SyncStore,
} from './sync/session/index.ts';
export {
  DEFAULT_BATCH_SIZE,
  DEFAULT_WINDOW,
  FrameTooLargeError,
  HELLO_TIMEOUT_MS,
  LINGER_TIMEOUT_MS,
  LIVE_POLL_INTERVAL_MS,
  MAX_BATCH_ENTRIES,
  MAX_BATCH_SIZE,
  MAX_FRAME_BYTES,
  MAX_WINDOW,
  PROTOCOL_MAJOR,
  PROTOCOL_MINOR,
  ProtocolError,
  RemoteError,
  SYNC_PROTOCOL,
  TARGET_BATCH_BYTES,
  UnsupportedVersionError,
  WIRE_LIMITS,
  type ProtocolErrorCode,
} from './sync/protocol/index.ts';
export { PAIR_PROTOCOL } from './sync/pairing/index.ts';
