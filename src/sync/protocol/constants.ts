/**
 * Protocol ids, versions and limits of `/ahenk/sync`. Each number says why it is that number;
 * docs/protocol.md lists them in the wire format tables.
 */
import { ENTRY_LIMITS } from '../../oplog/entry.ts';

/** The libp2p protocol id; the major version in it changes only with PROTOCOL_MAJOR. */
export const SYNC_PROTOCOL = '/ahenk/sync/2.0.0';

/** Peers with a different major cannot talk: the hello layout after the version is major-specific. */
export const PROTOCOL_MAJOR = 2;

/**
 * A newer minor only adds: message types we do not know and trailing fields are ignored.
 * 1: DRIFT (the receiver tells the sender it holds its writes back for their stamps).
 */
export const PROTOCOL_MINOR = 1;

/** A DRIFT message's `aheadMs`: HLC milliseconds fit in 47 bits. */
export const MAX_DRIFT_MS = 2 ** 47 - 1;

/** A session sends at most one DRIFT this often: a backlog held batch by batch is one notice. */
export const DRIFT_NOTICE_INTERVAL_MS = 60_000;

/**
 * Largest frame payload accepted. One entry with one column of the largest value merge accepts
 * (ENTRY_LIMITS.valueBytes) plus room for its key, names and stamps must fit, or that entry could
 * never travel; anything bigger is refused before it is buffered.
 */
export const MAX_FRAME_BYTES = ENTRY_LIMITS.valueBytes + 64 * 1024;

/** A batch frame is cut once its body passes this size: big enough to amortise per-frame costs, small enough to keep a window of frames cheap in memory. */
export const TARGET_BATCH_BYTES = 1024 * 1024;

/** Entries exported per window (getOplogEntriesSince limit): about 1 MiB of typical rows per round. */
export const DEFAULT_BATCH_SIZE = 1000;

/** Upper bound on `batchSize`: a window is held in memory while it is encoded. */
export const MAX_BATCH_SIZE = 100_000;

/** Entries in one decoded batch: bounds the array a hostile frame can make us allocate. */
export const MAX_BATCH_ENTRIES = 1_000_000;

/**
 * Unacknowledged batches a receiver lets a sender have in flight: keeps the pipe full over one
 * round trip without buffering the database, and lets the receiver commit half of it in one
 * transaction while the sender fills the other half. 16 windows of a thousand typical rows are
 * about 1 MB on the wire; at a million rows 32 were 10% faster but took the receiver's RSS from
 * about 275 to 365 MB (its V8 heap), and 8 were a third slower.
 */
export const DEFAULT_WINDOW = 16;

/** A receiver's group commit starts no further batch after this long: the event loop, and other writers of the database, wait about this long at most. */
export const GROUP_COMMIT_MS = 500;

/**
 * A receiver applying group after group gives the event loop a turn at least this often. Frames
 * already buffered arrive on microtasks alone: a page applying a window of 16 batches without a
 * turn blocked its worker for seconds and libp2p's connection monitor (ping every 10 s, closed
 * after at least 5 s without an answer) cut the connection mid-sync. A turn costs well under a
 * millisecond; a group lasts up to GROUP_COMMIT_MS plus one batch.
 */
export const APPLY_YIELD_MS = 100;

/**
 * That turn lasts this share of the group before it (at most APPLY_PAUSE_MAX_MS): a ping is
 * several round trips (a stream, multistream-select, the ping itself), each needing a turn on the
 * receiver, and a page's group on OPFS takes one to two seconds, mostly its commit, so a bare turn
 * between groups still let a ping wait through three groups (5.6 s measured). 2% of a group is
 * time enough for loopback round trips and costs the receiver about 2%.
 */
export const APPLY_PAUSE_SHARE = 0.02;
export const APPLY_PAUSE_MAX_MS = 25;

/** Largest window a peer may grant; a hello asking more is malformed. */
export const MAX_WINDOW = 64;

/** Cursors are opaque strings of the sender's log; the core's are decimal numbers (<= 19 digits). */
export const MAX_CURSOR_BYTES = 64;

/** Device ids are PeerId strings (about 52 characters); the oplog allows up to this many. */
export const MAX_DEVICE_ID_BYTES = ENTRY_LIMITS.deviceLength;

/** Error codes are short identifiers such as PROTOCOL_VERSION. */
export const MAX_ERROR_CODE_BYTES = 64;

/** Enough for a sentence naming what was wrong; longer messages are cut, never refused. */
export const MAX_ERROR_MESSAGE_BYTES = 1024;

/** Schema versions count migrations; anything larger is garbage. */
export const MAX_SCHEMA_VERSION = 2 ** 31 - 1;

/** A peer that opened the stream must say hello promptly; a silent one holds a stream for nothing. */
export const HELLO_TIMEOUT_MS = 10_000;

/**
 * Once the first byte of a frame (its length prefix included) has arrived, the rest must follow
 * within FRAME_BASE_TIMEOUT_MS plus the bytes received so far at FRAME_MIN_BYTES_PER_SECOND: a
 * frame of n bytes takes at most base + n / rate in all (a 64 MiB frame about 68 minutes), and a
 * peer that dribbles (a byte a second, or a prefix alone) is cut after about the base time. Only
 * the time spent waiting for the peer's bytes counts, not the time we spend applying the frames
 * before. The base is the hello's: a stalled link or a relay's hiccup of some seconds passes.
 */
export const FRAME_BASE_TIMEOUT_MS = 10_000;

/**
 * 16 KiB/s (128 kbit/s) is a bad mobile link (EDGE, a congested 3G cell): slower than any link we
 * expect to sync over, yet a peer must spend this much real bandwidth to keep a frame open.
 */
export const FRAME_MIN_BYTES_PER_SECOND = 16 * 1024;

/** Stopping a live session waits this long for the peer's acks and DONE before resetting the stream. */
export const STOP_TIMEOUT_MS = 2_000;

/**
 * After a finished session or a refused peer, how long we wait for the peer to close its side.
 * A peer on a busy machine can be well behind its stream: a browser tab still applying the last
 * batches it received closed its side 1.3 s after its peer had finished (Chromium, two tabs on two
 * loaded cores), and a 1 s wait reset streams that were about to close cleanly.
 */
export const LINGER_TIMEOUT_MS = 5_000;

/**
 * When a send fails because the peer closed the stream, how long the reader may take to reach an
 * ERROR frame the peer sent before closing: its reason (PROTOCOL_STORAGE, a refusal) is what the
 * session reports, not the broken write. The frame is already buffered; a real cut fails the reader
 * at once too, so this is waited for in full only when the reader is busy applying a group.
 */
export const PEER_REASON_GRACE_MS = 1_000;

/** How often a session records how far the peer holds our log (one small write each): status is at most this stale while a session runs. */
export const PEER_POSITION_SAVE_MS = 1_000;

/** Fallback poll of the oplog in live mode; a file watch usually reacts sooner. 5 ms keeps the median write-to-visible latency well under 20 ms at a few microseconds per poll. */
export const LIVE_POLL_INTERVAL_MS = 5;
