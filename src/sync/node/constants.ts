/**
 * Listen on every interface: a device on a LAN must be reachable by its peers. Port 0 means the
 * device's kept port (see listen-port.ts), not a new one each start.
 */
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
/** A relayed address through a DNS name is under 400 characters; anything longer is not an address. */
export const MAX_ADDRESS_LENGTH = 512;
/** Why a dial failed, as stored and logged: a sentence, not a stack. */
export const MAX_DIAL_ERROR_LENGTH = 200;

/**
 * One remembered address gets this long to answer before the next is tried: a LAN or loopback
 * answers in milliseconds, a refused port at once; an address that swallows packets (a network
 * left behind) must not hold the fresh ones back for the whole dial timeout.
 */
export const ADDRESS_DIAL_TIMEOUT_MS = 5_000;
/**
 * An address that failed is left out of dials for 10 s, doubling per further failure up to 5 min:
 * the dead ones stop costing a timeout per attempt, and one that comes back is tried again within
 * minutes (a network change forgets failures at once).
 */
export const ADDRESS_BACKOFF_INITIAL_MS = 10_000;
export const ADDRESS_BACKOFF_MAX_MS = 300_000;

/**
 * How often the node compares the machine's interfaces and addresses with the last look: a Wi-Fi
 * switch or a cable plugged in is noticed within 3 s. One os.networkInterfaces() call costs tens
 * of microseconds.
 */
export const NETWORK_CHECK_INTERVAL_MS = 3_000;

/**
 * The kept listen port is drawn from 20000-32767: below every OS's range of ports for outgoing
 * connections (Linux 32768-60999, Windows and macOS 49152-65535), so no outgoing socket of this
 * machine ever holds it when the node starts again.
 */
export const KEPT_PORT_MIN = 20_000;
export const KEPT_PORT_MAX = 32_767;
/** Free ports tried in that range before letting the OS choose any free port. */
export const KEPT_PORT_ATTEMPTS = 20;

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

/**
 * Compaction also runs once this many entries were logged since the last run, so a device writing
 * fast between two intervals keeps a log of a few MiB, not the interval's whole history (1M updates
 * at 170 a second: 135k rows at the peak, 35k after; bench/log-bound.ts).
 */
export const COMPACT_AFTER_ENTRIES = 100_000;
/** How often the log's growth is checked: one count over at most COMPACT_AFTER_ENTRIES seqs. */
export const COMPACT_GROWTH_CHECK_MS = 2_000;

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

/**
 * Held-back entries a node retries per slice, the event loop free in between: a slice merges in
 * a few milliseconds, so a day's backlog of held writes never blocks libp2p for long.
 */
export const RETRY_SLICE_ENTRIES = 1_000;

/**
 * The longest the node sleeps between looks at its held-back entries and its own clock. A wall
 * clock that is corrected (NTP, by hand) moves the time entries become due, so the node looks
 * again at least this often rather than trusting a timer set by the old clock.
 */
export const RETRY_MAX_WAIT_MS = 60_000;

/** At most one `clock:drift` event (and log line) per peer in this long: a backlog held batch by batch is one report. */
export const DRIFT_REPORT_INTERVAL_MS = 60_000;

/**
 * How long DCUtR gets to replace a relayed connection after our own direct dial failed, before the
 * node reports that sync stays on the relay. libp2p's DCUtR (3.0) tries a unilateral upgrade (5 s)
 * and then up to 3 hole punches of 5 s each, and reports no failure: 25 s covers all of that.
 */
export const HOLE_PUNCH_WAIT_MS = 25_000;

/**
 * A session that has waited this long for its turn on a shared connection (a browser tab holding
 * a transaction open) says so: a log line and an `error` event (DatabaseBusyError). Tabs' own
 * transactions last milliseconds; ten seconds is a tab that forgot to commit, or one stuck on a
 * network call inside its transaction.
 */
export const TURN_WAIT_NOTICE_MS = 10_000;
