/**
 * Errors of the sync protocol. Every refusal of a peer's frame is a ProtocolError with a code,
 * and the same code travels to the peer in the ERROR message, so both sides log the same reason.
 */
import { AhenkError } from '../../errors.ts';

export type ProtocolErrorCode =
  /** A frame does not decode: bad varint, truncated field, unknown tag, value out of bounds. */
  | 'PROTOCOL_MALFORMED'
  /** A frame is larger than MAX_FRAME_BYTES. */
  | 'PROTOCOL_FRAME_TOO_LARGE'
  /** The peer speaks another major version. */
  | 'PROTOCOL_VERSION'
  /** A well-formed message arrived where the protocol does not allow it. */
  | 'PROTOCOL_UNEXPECTED_MESSAGE'
  /** The hello names another device than the one the transport authenticated (or ourselves). */
  | 'PROTOCOL_PEER_MISMATCH'
  /** Merge refused the entries of a batch; nothing of the batch was applied. */
  | 'PROTOCOL_ENTRY_REJECTED'
  /** The peer sent an ERROR message. */
  | 'PROTOCOL_REMOTE_ERROR'
  /** The peer closed the stream before the session was complete. */
  | 'PROTOCOL_CLOSED'
  /**
   * The stream broke under the session: reset by the peer, or its connection (a relay's circuit,
   * a WebRTC data channel, a socket) closed. Nothing is lost: the next session resumes from the
   * cursor. Not sent to the peer (there is no stream left to send it on).
   */
  | 'PROTOCOL_CONNECTION_LOST'
  /** The peer did not say hello (or finish stopping, or finish a frame it began) in time. */
  | 'PROTOCOL_TIMEOUT'
  /** Something failed on this side (the database, most likely); the peer is told and may retry later. */
  | 'PROTOCOL_INTERNAL'
  /**
   * This side cannot write its database now (a full disk, read-only media, an I/O error: a
   * StorageError here): nothing of the batch was applied, the cursor stays before it, and the peer
   * sends it again in a later session, waiting longer before each try.
   */
  | 'PROTOCOL_STORAGE'
  /** The peer is not on our device list (yet): it learns nothing more; it may be paired later. */
  | 'PROTOCOL_REFUSED'
  /** The peer's key is revoked on our device list: it will never sync again with that key. */
  | 'PROTOCOL_REVOKED';

export class ProtocolError extends AhenkError {
  declare readonly code: ProtocolErrorCode;

  constructor(code: ProtocolErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'ProtocolError';
  }
}

/** The peer's hello carries a major version this build cannot speak. */
export class UnsupportedVersionError extends ProtocolError {
  readonly remoteMajor: number;
  readonly remoteMinor: number;

  constructor(remoteMajor: number, remoteMinor: number, localMajor: number, localMinor: number) {
    super(
      'PROTOCOL_VERSION',
      `peer speaks ahenk sync protocol ${remoteMajor}.${remoteMinor} but this device speaks ${localMajor}.${localMinor}; ` +
        `major versions must match: upgrade Ahenk on ${remoteMajor > localMajor ? 'this' : 'the other'} device`,
    );
    this.name = 'UnsupportedVersionError';
    this.remoteMajor = remoteMajor;
    this.remoteMinor = remoteMinor;
  }
}

/** A frame's length prefix (or a whole in-memory frame) is over the limit; nothing of it was buffered. */
export class FrameTooLargeError extends ProtocolError {
  readonly size: number;
  readonly limit: number;

  /** `size` is a lower bound when `atLeast` (a length prefix longer than any allowed frame needs). */
  constructor(size: number, limit: number, atLeast = false) {
    super('PROTOCOL_FRAME_TOO_LARGE', `frame of ${atLeast ? 'at least ' : ''}${size} bytes is larger than the limit of ${limit} bytes${atLeast ? ' (its length prefix runs past the longest one allowed)' : ''}`);
    this.name = 'FrameTooLargeError';
    this.size = size;
    this.limit = limit;
  }
}

/**
 * A frame the peer began did not arrive in time (FRAME_BASE_TIMEOUT_MS plus its bytes at
 * FRAME_MIN_BYTES_PER_SECOND): a peer that dribbles cannot hold a stream.
 */
export class FrameTimeoutError extends ProtocolError {
  /** Bytes of the frame received (its prefix included) and the payload length it announced, if its prefix was whole. */
  readonly receivedBytes: number;
  readonly announcedBytes: number | undefined;
  readonly waitedMs: number;

  constructor(receivedBytes: number, announcedBytes: number | undefined, waitedMs: number) {
    const of = announcedBytes === undefined ? 'a length prefix still incomplete' : `a frame of ${announcedBytes} bytes`;
    super('PROTOCOL_TIMEOUT', `${of} stalled: ${receivedBytes} bytes in ${Math.round(waitedMs)} ms, slower than the minimum rate`);
    this.name = 'FrameTimeoutError';
    this.receivedBytes = receivedBytes;
    this.announcedBytes = announcedBytes;
    this.waitedMs = waitedMs;
  }
}

/** The peer reported an error and ended the session; `remoteCode` is its code. */
export class RemoteError extends ProtocolError {
  readonly remoteCode: string;

  constructor(remoteCode: string, message: string) {
    super('PROTOCOL_REMOTE_ERROR', `peer reported ${remoteCode}: ${message}`);
    this.name = 'RemoteError';
    this.remoteCode = remoteCode;
  }
}

export function malformed(message: string): ProtocolError {
  return new ProtocolError('PROTOCOL_MALFORMED', message);
}

/** A session whose stream broke under it (`PROTOCOL_CONNECTION_LOST`); `cause` is what the transport threw. */
export function connectionLost(cause: unknown): ProtocolError {
  return new ProtocolError('PROTOCOL_CONNECTION_LOST', `the stream broke: ${describeTransportFailure(cause)}`, { cause });
}

/**
 * What a transport threw, in words: some reject with an Error, some (a WebRTC data channel's
 * `error` event, passed on by libp2p) with an Event, whose own text would be "[object Event]".
 */
function describeTransportFailure(cause: unknown): string {
  if (cause instanceof Error) return cause.message;
  if (typeof Event !== 'undefined' && cause instanceof Event) {
    const inner = (cause as Event & { error?: unknown }).error;
    return inner instanceof Error ? inner.message : `an '${cause.type}' event on the stream`;
  }
  return String(cause);
}
