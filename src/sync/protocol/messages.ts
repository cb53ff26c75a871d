/**
 * The messages of `/ahenk/sync` and their binary layout (docs/protocol.md has the tables). A frame
 * is one message: a type byte, then the fields in order. Decoding checks every field's type and
 * bound; trailing bytes and unknown types are accepted only from a peer with a newer minor.
 */
import type { OplogEntry } from '../../oplog/entry.ts';
import {
  MAX_BATCH_ENTRIES,
  MAX_CURSOR_BYTES,
  MAX_DEVICE_ID_BYTES,
  MAX_DRIFT_MS,
  MAX_ERROR_CODE_BYTES,
  MAX_ERROR_MESSAGE_BYTES,
  MAX_FRAME_BYTES,
  MAX_SCHEMA_VERSION,
  MAX_WINDOW,
  PROTOCOL_MAJOR,
  PROTOCOL_MINOR,
  TARGET_BATCH_BYTES,
} from './constants.ts';
import { utf8ByteLength } from '../../sqlite/values.ts';
import { EntryEncoder, entrySizeBound, readEntries, splitEntry } from './entries.ts';
import { FrameTooLargeError, malformed, UnsupportedVersionError } from './errors.ts';
import { WireReader, WireWriter } from './wire.ts';

/** Log positions are below 2^63 (the core's cursors: decimal, at most 19 digits). */
const MAX_CURSOR_POSITION = (1n << 63n) - 1n;

/** Flags, table, key, causal length, group count, and one group's stamp, device and column count. */
const MIN_ENTRY_BYTES = 8;

export const MESSAGE_TYPE = { hello: 0x01, have: 0x02, batch: 0x03, ack: 0x04, caughtUp: 0x05, done: 0x06, drift: 0x07, error: 0x7f } as const;

/** HELLO flag bits. */
export const HELLO_FLAG = { live: 1 } as const;
const KNOWN_HELLO_FLAGS = HELLO_FLAG.live;

export interface HelloMessage {
  type: 'hello';
  major: number;
  minor: number;
  /** Rows in __ahenk_migrations of the sender: informational, entries are checked by merge anyway. */
  schemaVersion: number;
  deviceId: string;
  /** The sender keeps pushing new writes after catch-up. */
  live: boolean;
  /** Unacknowledged batches the sender of this hello accepts from its peer. */
  window: number;
}
export interface HaveMessage {
  type: 'have';
  /** The receiver's cursor into the sender's log; empty means "nothing yet". */
  cursor: string;
}
export interface BatchMessage {
  type: 'batch';
  /** 1, 2, 3, ... within a session and direction. */
  batch: number;
  /** The sender's cursor once this batch is applied; empty when it does not move. */
  cursor: string;
  /** Sender's estimate of entries still to come before it is caught up. */
  remaining: number;
  entries: OplogEntry[];
}
export interface AckMessage {
  type: 'ack';
  /** Every batch up to this one is applied and its cursor stored. */
  batch: number;
}
export interface CaughtUpMessage {
  type: 'caught-up';
}
export interface DoneMessage {
  type: 'done';
}
/**
 * Since minor 1: the receiver of the peer's batches holds some of its writes back because their
 * stamps are too far ahead of the receiver's clock (the peer's clock or HLC runs ahead, or the
 * receiver's runs behind). Sent only to a peer whose hello says minor >= 1.
 */
export interface DriftMessage {
  type: 'drift';
  /** How far the furthest-ahead held stamp is ahead of the receiver's wall clock (ms). */
  aheadMs: number;
  /** Writes held back since the last DRIFT of this session. */
  held: number;
}
export interface ErrorMessage {
  type: 'error';
  code: string;
  message: string;
}
/** A message type added by a newer minor; the session skips it. */
export interface UnknownMessage {
  type: 'unknown';
  code: number;
}
export type SyncMessage = HelloMessage | HaveMessage | BatchMessage | AckMessage | CaughtUpMessage | DoneMessage | DriftMessage | ErrorMessage | UnknownMessage;

export interface DecodeOptions {
  /** The peer announced a newer minor: tolerate unknown message types and trailing fields. */
  extensions?: boolean;
  /** The peer's device id from its HELLO: device reference 1 in its BATCH frames. */
  sender?: string | undefined;
}

export interface EncodeOptions {
  /** This side's device id as its HELLO says: device reference 1 in its BATCH frames. */
  sender?: string;
}

export function encodeMessage(message: Exclude<SyncMessage, UnknownMessage>, options: EncodeOptions = {}): Uint8Array {
  const w = new WireWriter(message.type === 'batch' ? 4096 : 64);
  switch (message.type) {
    case 'hello':
      w.u8(MESSAGE_TYPE.hello);
      w.varint(message.major);
      w.varint(message.minor);
      w.varint(message.schemaVersion);
      w.string(message.deviceId);
      w.varint(message.live ? HELLO_FLAG.live : 0);
      w.varint(message.window);
      break;
    case 'have':
      w.u8(MESSAGE_TYPE.have);
      w.string(message.cursor);
      break;
    case 'batch': {
      const position = cursorPosition(message.cursor);
      writeBatchHeader(w, message.batch, position, message.remaining, message.entries.length);
      const encoder = new EntryEncoder(w, options.sender, position);
      for (const entry of message.entries) encoder.write(entry);
      break;
    }
    case 'ack':
      w.u8(MESSAGE_TYPE.ack);
      w.varint(message.batch);
      break;
    case 'caught-up':
      w.u8(MESSAGE_TYPE.caughtUp);
      break;
    case 'done':
      w.u8(MESSAGE_TYPE.done);
      break;
    case 'drift':
      w.u8(MESSAGE_TYPE.drift);
      w.varint(Math.min(Math.max(0, Math.round(message.aheadMs)), MAX_DRIFT_MS));
      w.varint(Math.min(Math.max(0, message.held), 2 ** 31 - 1));
      break;
    case 'error':
      w.u8(MESSAGE_TYPE.error);
      w.string(truncateUtf8(message.code, MAX_ERROR_CODE_BYTES));
      w.string(truncateUtf8(message.message, MAX_ERROR_MESSAGE_BYTES));
      break;
  }
  return w.finish().slice();
}

function writeBatchHeader(w: WireWriter, batch: number, position: bigint, remaining: number, count: number): void {
  w.u8(MESSAGE_TYPE.batch);
  w.varint(batch);
  w.varintBig(position);
  w.varint(remaining);
  w.varint(count);
}

export interface BatchFrame {
  frame: Uint8Array;
  batch: number;
  entries: number;
}

/**
 * A batch cursor as it travels: the core's cursors are decimal log positions below 2^63, sent as
 * their number; '' (and '0', which means the same) as 0, "does not move".
 */
function cursorPosition(cursor: string): bigint {
  if (cursor === '') return 0n;
  if (!/^(0|[1-9][0-9]{0,18})$/.test(cursor)) throw new RangeError(`a batch cursor is a decimal log position, not ${JSON.stringify(cursor.slice(0, 40))}`);
  const position = BigInt(cursor);
  if (position > MAX_CURSOR_POSITION) throw new RangeError('batch cursor out of range');
  return position;
}

/**
 * Encodes one exported window as one or more BATCH frames numbered from `firstBatch`. A frame is
 * cut once its body passes `targetBytes`, or before an entry that would push it past the frame
 * limit; only the last frame carries the window's cursor, so a cut inside a window resends it.
 * `sender` is this side's device id (as in its HELLO).
 */
export function encodeBatchFrames(
  entries: readonly OplogEntry[],
  header: { firstBatch: number; cursor: string; remaining: number; sender?: string },
  limits: { targetBytes?: number; maxFrameBytes?: number } = {},
): BatchFrame[] {
  const target = limits.targetBytes ?? TARGET_BATCH_BYTES;
  const budget = (limits.maxFrameBytes ?? MAX_FRAME_BYTES) - 128;
  const frames: BatchFrame[] = [];
  const position = cursorPosition(header.cursor);
  let body = new WireWriter(Math.min(target, 64 * 1024));
  let encoder = new EntryEncoder(body, header.sender);
  let bodyBound = 0;
  let left = entries.length;
  const cut = (last: boolean): void => {
    const w = new WireWriter(64);
    const batch = header.firstBatch + frames.length;
    writeBatchHeader(w, batch, last ? position : 0n, header.remaining + (last ? 0 : left), encoder.count);
    // Only now is it known whether the frame carries the cursor, the base of its first stamp.
    const bytes = last ? encoder.rebased(position) : body.finish();
    const out = new Uint8Array(w.length + bytes.length);
    out.set(w.finish());
    out.set(bytes, w.length);
    frames.push({ frame: out, batch, entries: encoder.count });
    body = new WireWriter(Math.min(target, 64 * 1024));
    encoder = new EntryEncoder(body, header.sender);
    bodyBound = 0;
  };
  for (const entry of entries) {
    const bound = entrySizeBound(entry);
    const parts = bound > budget ? splitEntry(entry, budget) : [entry];
    for (const part of parts) {
      const partBound = parts.length === 1 ? bound : entrySizeBound(part);
      if (encoder.count > 0 && (body.length >= target || bodyBound + partBound > budget)) cut(false);
      encoder.write(part);
      bodyBound += partBound;
    }
    left--;
  }
  cut(true);
  return frames;
}

export function decodeMessage(frame: Uint8Array, options: DecodeOptions = {}): SyncMessage {
  if (frame.byteLength > MAX_FRAME_BYTES) throw new FrameTooLargeError(frame.byteLength, MAX_FRAME_BYTES);
  const r = new WireReader(frame);
  const type = r.u8('message type');
  const extensions = options.extensions === true;
  const end = (what: string): void => {
    if (!extensions) r.end(what);
  };
  switch (type) {
    case MESSAGE_TYPE.hello: {
      // Frozen for every major: type, major, minor. The rest is this major's layout.
      const major = r.varint('protocol major', 0xffff);
      const minor = r.varint('protocol minor', 0xffff);
      if (major !== PROTOCOL_MAJOR) throw new UnsupportedVersionError(major, minor, PROTOCOL_MAJOR, PROTOCOL_MINOR);
      const newer = minor > PROTOCOL_MINOR;
      const schemaVersion = r.varint('schema version', MAX_SCHEMA_VERSION);
      const deviceId = r.string('device id', MAX_DEVICE_ID_BYTES);
      if (deviceId.length === 0) throw malformed('device id is empty');
      const flags = r.varint('hello flags');
      if (!newer && (flags & ~KNOWN_HELLO_FLAGS) !== 0) throw malformed(`unknown hello flags ${flags}`);
      const window = r.varint('window', MAX_WINDOW);
      if (window < 1) throw malformed('window must be at least 1');
      if (!newer) r.end('hello');
      return { type: 'hello', major, minor, schemaVersion, deviceId, live: (flags & HELLO_FLAG.live) !== 0, window };
    }
    case MESSAGE_TYPE.have: {
      const cursor = readCursor(r, 'cursor');
      end('have');
      return { type: 'have', cursor };
    }
    case MESSAGE_TYPE.batch: {
      const batch = r.varint('batch number');
      if (batch < 1) throw malformed('batch numbers start at 1');
      const position = r.varintBig('batch cursor');
      if (position > MAX_CURSOR_POSITION) throw malformed('batch cursor out of range');
      const remaining = r.varint('remaining');
      // Every entry takes at least 8 bytes, so the count cannot promise more than the frame holds.
      const count = r.varint('entry count', Math.min(MAX_BATCH_ENTRIES, Math.floor(r.remaining / MIN_ENTRY_BYTES)));
      const entries = readEntries(r, count, options.sender, position);
      end('batch');
      return { type: 'batch', batch, cursor: position === 0n ? '' : position.toString(), remaining, entries };
    }
    case MESSAGE_TYPE.ack: {
      const batch = r.varint('acknowledged batch');
      if (batch < 1) throw malformed('batch numbers start at 1');
      end('ack');
      return { type: 'ack', batch };
    }
    case MESSAGE_TYPE.caughtUp:
      end('caught-up');
      return { type: 'caught-up' };
    case MESSAGE_TYPE.done:
      end('done');
      return { type: 'done' };
    case MESSAGE_TYPE.drift: {
      const aheadMs = r.varint('drift', MAX_DRIFT_MS);
      const held = r.varint('held writes', 2 ** 31 - 1);
      end('drift');
      return { type: 'drift', aheadMs, held };
    }
    case MESSAGE_TYPE.error: {
      // Frozen for every major, and read leniently, so any version can tell any other why it stops.
      const code = r.string('error code', MAX_ERROR_CODE_BYTES);
      const message = r.string('error message', MAX_ERROR_MESSAGE_BYTES);
      return { type: 'error', code, message };
    }
    default:
      if (extensions) return { type: 'unknown', code: type };
      throw malformed(`unknown message type 0x${type.toString(16).padStart(2, '0')}`);
  }
}

function readCursor(r: WireReader, what: string): string {
  const cursor = r.string(what, MAX_CURSOR_BYTES);
  if (!/^[\x21-\x7e]*$/.test(cursor)) throw malformed(`${what} has characters outside printable ASCII`);
  return cursor;
}

/** Cuts a string to at most `maxBytes` of UTF-8 without splitting a character. */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (text.length * 3 <= maxBytes || utf8ByteLength(text) <= maxBytes) return text;
  let out = text.slice(0, maxBytes);
  while (utf8ByteLength(out) > maxBytes) out = out.slice(0, -1);
  // A lone high surrogate left at the end would encode as U+FFFD (3 bytes); drop it.
  if (/[\ud800-\udbff]$/.test(out)) out = out.slice(0, -1);
  return out;
}
