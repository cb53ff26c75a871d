/** Listen on every interface, any free port: a device on a LAN must be reachable by its peers. */
export const DEFAULT_LISTEN_ADDRESSES: readonly string[] = ['/ip4/0.0.0.0/tcp/0'];

/** First retry of a lost known peer comes quickly: most drops are a restart or a Wi-Fi blip. */
export const RECONNECT_INITIAL_DELAY_MS = 1_000;
/** A peer that stays away is tried about once a minute, cheap enough to run for days. */
export const RECONNECT_MAX_DELAY_MS = 60_000;
export const RECONNECT_BACKOFF_FACTOR = 2;
/** ±20% spread so that devices that lost each other at once do not retry in lockstep. */
export const RECONNECT_JITTER = 0.2;

/** A dial on a LAN or loopback answers in well under a second; ten covers slow Wi-Fi and relays. */
export const DIAL_TIMEOUT_MS = 10_000;

/**
 * The read side pauses the yamux stream when this many bytes wait unread, so a slow database
 * throttles the sender instead of growing our buffer (the remote stops once its window is spent).
 */
export const READ_HIGH_WATER_BYTES = 1 << 20;
export const READ_LOW_WATER_BYTES = 256 << 10;
/**
 * While paused, yamux may still deliver up to the remote's current send window (at most 16 MiB
 * by default); libp2p resets a stream whose paused buffer exceeds its limit (4 MiB by default),
 * so the limit is raised above the largest window.
 */
export const STREAM_MAX_READ_BUFFER_BYTES = 32 << 20;

/** Addresses kept per known peer: enough for v4/v6 and a couple of networks, not a history. */
export const MAX_ADDRESSES_PER_PEER = 16;

/** mDNS query interval: discovery in a second or two without flooding the link. */
export const MDNS_INTERVAL_MS = 1_000;
/** Namespaces Ahenk nodes on a LAN announce under, so unrelated libp2p apps are not dialled. */
export const MDNS_SERVICE_TAG = '_ahenk._udp.local';

/** How soon a revoked device loses its running session; the check is one indexed lookup per session. */
export const AUTHORIZATION_RECHECK_MS = 1_000;

/**
 * Log compaction examines only rows written since the last run, so every ten minutes keeps a busy
 * log bounded without holding the write lock for long.
 */
export const COMPACT_INTERVAL_MS = 600_000;

/** Log entries one compaction slice looks at: tens of milliseconds of write lock, then a yield. */
export const COMPACT_SLICE_ENTRIES = 20_000;

/**
 * Over a circuit with a data limit, one batch gets this many bytes of the limit per entry it
 * holds: 4 KiB leaves room for a window of batches of typical rows (well under 1 KiB each) plus
 * Noise and yamux framing, so a foreign relay's 128 KiB circuit commits several batches of 32.
 */
export const LIMITED_BYTES_PER_ENTRY_BUDGET = 4096n;
/** Unacknowledged batches over a data-limited circuit: enough to keep it busy, few enough to fit. */
export const LIMITED_WINDOW = 4;
