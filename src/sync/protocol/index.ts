// The wire protocol of /ahenk/sync: constants, messages, entry codec, framing, errors.
export {
  DEFAULT_BATCH_SIZE,
  DEFAULT_WINDOW,
  HELLO_TIMEOUT_MS,
  LINGER_TIMEOUT_MS,
  LIVE_POLL_INTERVAL_MS,
  MAX_BATCH_ENTRIES,
  MAX_BATCH_SIZE,
  MAX_CURSOR_BYTES,
  MAX_DEVICE_ID_BYTES,
  MAX_ERROR_CODE_BYTES,
  MAX_ERROR_MESSAGE_BYTES,
  MAX_FRAME_BYTES,
  MAX_SCHEMA_VERSION,
  MAX_WINDOW,
  PROTOCOL_MAJOR,
  PROTOCOL_MINOR,
  STOP_TIMEOUT_MS,
  SYNC_PROTOCOL,
  TARGET_BATCH_BYTES,
} from './constants.ts';
export {
  FrameTooLargeError,
  ProtocolError,
  RemoteError,
  UnsupportedVersionError,
  type ProtocolErrorCode,
} from './errors.ts';
export {
  decodeMessage,
  encodeBatchFrames,
  encodeMessage,
  HELLO_FLAG,
  MESSAGE_TYPE,
  type AckMessage,
  type BatchFrame,
  type BatchMessage,
  type CaughtUpMessage,
  type DecodeOptions,
  type DoneMessage,
  type ErrorMessage,
  type HaveMessage,
  type HelloMessage,
  type SyncMessage,
  type UnknownMessage,
} from './messages.ts';
export { VALUE_TAG, WIRE_LIMITS } from './entries.ts';
export { encodeFrame, encodeFramePrefix, FrameDecoder, framedSize } from './framing.ts';
