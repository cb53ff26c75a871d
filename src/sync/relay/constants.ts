/** Where an always-on relay listens by default: TCP for Node devices, WebSockets for browsers. */
export const DEFAULT_RELAY_LISTEN_ADDRESSES: readonly string[] = ['/ip4/0.0.0.0/tcp/4001', '/ip4/0.0.0.0/tcp/4002/ws'];

/** One person's relay serves a handful of devices; 64 leaves room for a family and stale slots. */
export const DEFAULT_MAX_RESERVATIONS = 64;

/**
 * Circuits one peer may have open through the relay at once (inbound hop streams per connection).
 * A device syncs with a few others; more than eight is a loop or abuse.
 */
export const DEFAULT_MAX_CIRCUITS_PER_PEER = 8;

/**
 * A circuit between admitted devices lives up to an hour: long enough for a live session to run
 * quietly, short enough that a forgotten circuit is reclaimed. A cut circuit is re-opened and the
 * sync resumes from its cursor, so the limit costs a reconnect, never data.
 */
export const DEFAULT_CIRCUIT_DURATION_MS = 60 * 60 * 1000;

/** Bytes per circuit (both directions together): 1 GiB, an initial sync of millions of rows. */
export const DEFAULT_CIRCUIT_BYTES = 1n << 30n;

/** A reservation is refreshed by the device well before this (libp2p's own default TTL). */
export const DEFAULT_RESERVATION_TTL_MS = 2 * 60 * 60 * 1000;

/** How often the counters are logged; 0 turns it off. Ten minutes is a readable log on a VPS. */
export const DEFAULT_STATUS_INTERVAL_MS = 10 * 60 * 1000;

/** Admitted devices kept in the state file: far above one person's devices, bounded for safety. */
export const MAX_ADMITTED_PEERS = 1024;

/** The state file is a few kilobytes; anything larger is not ours. */
export const MAX_STATE_FILE_BYTES = 1 << 20;

/** The protocol a device presents the relay's join token on, to be admitted. */
export const RELAY_ADMIT_PROTOCOL = '/ahenk/relay-admit/1.0.0';

/** 160 random bits: unguessable even without the attempt limit. */
export const JOIN_TOKEN_BYTES = 20;
/** The token's length in base32 characters (5 bits each). */
export const JOIN_TOKEN_LENGTH = 32;

/** A request is a version byte and a 32-character token; 256 bytes leaves room for a next version and nothing more. */
export const MAX_ADMIT_FRAME_BYTES = 256;
/** A device sends its one request at once after opening the stream; ten seconds covers a slow mobile link. */
export const ADMIT_MESSAGE_TIMEOUT_MS = 10_000;

/**
 * How long a peer that is not admitted may stay connected: long enough to present the token
 * (one round trip), short enough that strangers cannot park connections on the relay.
 */
export const STRANGER_WINDOW_MS = 15_000;
/** Connections from peers not (yet) admitted held at once; more are refused at the door. */
export const MAX_STRANGER_CONNECTIONS = 16;

/**
 * Wrong join tokens allowed per remote address, and from everyone together, per window. A person
 * mistyping gets several tries; a guesser gets 30 an hour against 2^160 tokens. The total also
 * bounds the log. When it is reached, joining waits for the window (the operator can still
 * `ahenk relay admit` a device directly).
 */
export const ADMIT_ATTEMPTS_PER_ADDRESS = 5;
export const ADMIT_ATTEMPTS_TOTAL = 30;
export const ADMIT_ATTEMPT_WINDOW_MS = 60 * 60 * 1000;

/** Revoked device ids remembered (so the join token cannot re-admit them): bounded like the admitted list. */
export const MAX_REVOKED_PEERS = 1024;
