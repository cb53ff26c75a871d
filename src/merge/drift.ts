/**
 * Clock drift as this database sees it: how far its own stamps run ahead of its wall clock, which
 * devices' writes it holds back because their stamps are too far ahead of it, and which peers said
 * they hold its writes back (their DRIFT messages, recorded by the node). A stamp ahead
 * of our clock means the writer's clock (or its HLC) runs ahead, or ours runs behind: from one
 * database the two look the same, so the report names both sides' figures and docs/decisions.md
 * ("Clock drift") says how to tell them apart and what to do.
 */
import { DEFAULT_MAX_DRIFT_MS } from '../clock/hybrid-logical-clock.ts';
import { hlcMs } from '../clock/timestamp.ts';
import { connectionOf, type DatabaseHandle, type SqliteConnection } from '../sqlite/index.ts';

export interface HeldForDrift {
  /** The device whose writes are held (it stamped them). */
  device: string;
  entries: number;
  /** How far the furthest-ahead held stamp is ahead of this device's wall clock now (ms; negative once due). */
  aheadMs: number;
  /** Wall-clock time (Unix ms, by this device's clock) when the last of them comes inside the allowance. */
  dueAt: number;
}

export interface ClockDriftReport {
  /** The allowance the report is measured against (ms). */
  maxDriftMs: number;
  /**
   * How far this device's next stamp is ahead of its wall clock (ms, 0 when not ahead). Its stamps
   * run ahead when its clock was fast once: the HLC never goes back, so it keeps stamping ahead.
   */
  ownAheadMs: number;
  /** ownAheadMs is above the allowance: peers hold this device's writes back until time catches up. */
  ownAhead: boolean;
  /** Writes held back because their stamps were too far ahead, by device (most entries first). */
  held: HeldForDrift[];
  /**
   * Peers that said they hold this device's writes back for their stamps, while that may still be
   * so (until `until`), latest first. This device's clock or stamps run ahead of theirs, or their
   * clock runs behind: the own check (ownAhead) cannot see the first case when the wall clock itself
   * is fast, since stamps then match it.
   */
  heldByPeers: PeerDriftNotice[];
}

/** What a peer said in its DRIFT messages, as this device recorded it. */
export interface PeerDriftNotice {
  peerId: string;
  /** Writes of ours it said it held back, summed over its notices since this one began. */
  held: number;
  /** How far our furthest held stamp was ahead of the peer's clock, in its latest notice (ms). */
  aheadMs: number;
  /** When it last told us (Unix ms, this device's clock). */
  at: number;
  /**
   * When the peer holds them no longer, at the latest: `at + aheadMs`, when its clock reaches our
   * stamps. It applies them sooner by its own allowance (unknown here: 5 minutes by default). The
   * notice is dropped then, unless the peer tells again.
   */
  until: number;
}

/** ahenk_meta keys of the notices: the prefix and the peer id. */
const NOTICE_KEY = 'drift_notice:';
/** The first key after every NOTICE_KEY one (':' + 1 is ';'), for a range scan of the primary key. */
const NOTICE_KEY_END = 'drift_notice;';

export function getClockDrift(db: DatabaseHandle, options: { now?: () => number; maxDriftMs?: number } = {}): ClockDriftReport {
  const raw = connectionOf(db);
  const wallMs = Math.floor((options.now ?? Date.now)());
  const maxDriftMs = options.maxDriftMs ?? DEFAULT_MAX_DRIFT_MS;
  const clock = (raw.cached('SELECT hlc FROM ahenk_clock WHERE id = 0').value() as bigint | undefined) ?? 0n;
  const seq = (raw.cached('SELECT max(seq) FROM ahenk_oplog').value() as bigint | null) ?? 0n;
  const newest = clock > seq ? clock : seq;
  const ownAheadMs = Math.max(0, hlcMs(newest) - wallMs);
  const rows = raw
    .cached('SELECT device, count(*), max(hlc) FROM ahenk_quarantine WHERE hlc IS NOT NULL GROUP BY device ORDER BY count(*) DESC, device')
    .values();
  const held = rows.map(([device, entries, highest]) => {
    const ms = hlcMs(highest as bigint);
    return { device: (device as string | null) ?? '', entries: Number(entries), aheadMs: ms - wallMs, dueAt: ms - maxDriftMs };
  });
  return { maxDriftMs, ownAheadMs, ownAhead: ownAheadMs > maxDriftMs, held, heldByPeers: readDriftNotices(raw, wallMs) };
}

/**
 * Records a peer's DRIFT message (the node calls it; `held` and `aheadMs` are the message's bounded
 * fields). A notice still standing is extended: its held count grows, the latest ahead is kept.
 */
export function recordPeerDriftNotice(db: DatabaseHandle, peerId: string, told: { held: number; aheadMs: number }, now: number): PeerDriftNotice {
  if (typeof peerId !== 'string' || peerId.length === 0) throw new TypeError('recordPeerDriftNotice: peerId must be a device id');
  const raw = connectionOf(db);
  const at = Math.floor(now);
  const aheadMs = bounded(told.aheadMs);
  const previous = readDriftNotices(raw, at).find((n) => n.peerId === peerId);
  const notice: PeerDriftNotice = {
    peerId,
    held: Math.min(Number.MAX_SAFE_INTEGER, bounded(told.held) + (previous?.held ?? 0)),
    aheadMs,
    at,
    until: Math.max(previous?.until ?? 0, at + aheadMs),
  };
  const value = JSON.stringify({ held: notice.held, aheadMs: notice.aheadMs, at: notice.at, until: notice.until });
  raw.prepare('INSERT INTO ahenk_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(NOTICE_KEY + peerId, value);
  return notice;
}

/** Deletes the notices that no longer hold at `now` (and any that do not read); returns them. */
export function prunePeerDriftNotices(db: DatabaseHandle, now: number): PeerDriftNotice[] {
  const raw = connectionOf(db);
  const wallMs = Math.floor(now);
  const standing = new Set(readDriftNotices(raw, wallMs).map((n) => n.peerId));
  const gone: PeerDriftNotice[] = [];
  for (const [key, value] of noticeRows(raw)) {
    const peerId = key.slice(NOTICE_KEY.length);
    if (standing.has(peerId)) continue;
    const notice = parseNotice(peerId, value);
    if (notice !== undefined) gone.push(notice);
    raw.prepare('DELETE FROM ahenk_meta WHERE key = ?').run(key);
  }
  return gone;
}

function readDriftNotices(raw: SqliteConnection, wallMs: number): PeerDriftNotice[] {
  const notices: PeerDriftNotice[] = [];
  for (const [key, value] of noticeRows(raw)) {
    const notice = parseNotice(key.slice(NOTICE_KEY.length), value);
    if (notice !== undefined && notice.until > wallMs) notices.push(notice);
  }
  return notices.sort((x, y) => y.at - x.at || (x.peerId < y.peerId ? -1 : 1));
}

function noticeRows(raw: SqliteConnection): [string, string][] {
  return raw
    .cached('SELECT key, value FROM ahenk_meta WHERE key >= ? AND key < ? ORDER BY key')
    .values(NOTICE_KEY, NOTICE_KEY_END)
    .map(([key, value]) => [String(key), String(value)]);
}

/** A stored notice, or undefined when it does not read as one (written by something else, or damaged). */
function parseNotice(peerId: string, text: string): PeerDriftNotice | undefined {
  try {
    const value = JSON.parse(text) as Record<string, unknown>;
    const { held, aheadMs, at, until } = value;
    if (![held, aheadMs, at, until].every((n) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0)) return undefined;
    return { peerId, held: held as number, aheadMs: aheadMs as number, at: at as number, until: until as number };
  } catch {
    return undefined;
  }
}

/** A count or a duration from a peer's message, as a safe non-negative integer. */
function bounded(n: number): number {
  return Number.isFinite(n) && n > 0 ? Math.min(Math.floor(n), Number.MAX_SAFE_INTEGER) : 0;
}
