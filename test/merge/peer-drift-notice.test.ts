/**
 * A peer's word that it holds this device's writes back (its DRIFT message, issue 12 item 2) as
 * the database keeps it: getClockDrift shows it (which peer, how many, how far, when) until it no
 * longer holds, and the node's prune drops it then. Times are injected.
 */
import { describe, expect, it } from 'vitest';
import { getClockDrift } from '../../src/index.ts';
import { prunePeerDriftNotices, recordPeerDriftNotice } from '../../src/merge/drift.ts';
import { openDevice } from '../helpers/db.ts';

const T0 = Date.UTC(2026, 11, 5, 12, 0, 0);
const PEER = '12D3KooWPeerPeerPeerPeerPeerPeerPeerPeerPeerPeer';
const OTHER = '12D3KooWOtherOtherOtherOtherOtherOtherOtherOth';

describe('drift notices from peers', () => {
  it('are shown with the peer, the count, how far and when, and extended by a later notice', () => {
    const db = openDevice('told');
    expect(getClockDrift(db, { now: () => T0 }).heldByPeers).toEqual([]);

    recordPeerDriftNotice(db, PEER, { held: 7, aheadMs: 600_000 }, T0);
    expect(getClockDrift(db, { now: () => T0 + 1 }).heldByPeers).toEqual([{ peerId: PEER, held: 7, aheadMs: 600_000, at: T0, until: T0 + 600_000 }]);

    // A minute later the same peer holds 3 more, its latest figure is what counts as "how far".
    recordPeerDriftNotice(db, PEER, { held: 3, aheadMs: 540_000 }, T0 + 60_000);
    recordPeerDriftNotice(db, OTHER, { held: 1, aheadMs: 400_000 }, T0 + 30_000);
    const told = getClockDrift(db, { now: () => T0 + 61_000 }).heldByPeers;
    expect(told).toEqual([
      { peerId: PEER, held: 10, aheadMs: 540_000, at: T0 + 60_000, until: T0 + 600_000 },
      { peerId: OTHER, held: 1, aheadMs: 400_000, at: T0 + 30_000, until: T0 + 430_000 },
    ]);
  });

  it('are no longer shown once they cannot hold, and the prune deletes exactly those', () => {
    const db = openDevice('told');
    recordPeerDriftNotice(db, PEER, { held: 2, aheadMs: 10_000 }, T0);
    recordPeerDriftNotice(db, OTHER, { held: 4, aheadMs: 100_000 }, T0);
    expect(getClockDrift(db, { now: () => T0 + 9_999 }).heldByPeers.map((n) => n.peerId)).toEqual([OTHER, PEER].sort());
    expect(getClockDrift(db, { now: () => T0 + 10_000 }).heldByPeers.map((n) => n.peerId)).toEqual([OTHER]);

    expect(prunePeerDriftNotices(db, T0 + 10_000)).toEqual([{ peerId: PEER, held: 2, aheadMs: 10_000, at: T0, until: T0 + 10_000 }]);
    expect(db.$connection.prepare("SELECT key FROM ahenk_meta WHERE key LIKE 'drift_notice:%'").values().flat()).toEqual([`drift_notice:${OTHER}`]);
    // A notice told after the old one lapsed starts afresh: the lapsed count is not added.
    recordPeerDriftNotice(db, OTHER, { held: 1, aheadMs: 5_000 }, T0 + 200_000);
    expect(getClockDrift(db, { now: () => T0 + 200_000 }).heldByPeers).toEqual([{ peerId: OTHER, held: 1, aheadMs: 5_000, at: T0 + 200_000, until: T0 + 205_000 }]);
  });

  it('ignore a damaged row and bound what a peer says', () => {
    const db = openDevice('told');
    db.$connection.prepare('INSERT INTO ahenk_meta (key, value) VALUES (?, ?)').run(`drift_notice:${OTHER}`, '{"held":"many"}');
    recordPeerDriftNotice(db, PEER, { held: Number.POSITIVE_INFINITY, aheadMs: -5 }, T0);
    expect(getClockDrift(db, { now: () => T0 - 1 }).heldByPeers).toEqual([{ peerId: PEER, held: 0, aheadMs: 0, at: T0, until: T0 }]);
    // The damaged row is dropped by the prune, with the lapsed notice; nothing else of ahenk_meta is touched.
    const before = Number(db.$connection.prepare("SELECT count(*) FROM ahenk_meta WHERE key NOT LIKE 'drift_notice:%'").value());
    expect(prunePeerDriftNotices(db, T0).map((n) => n.peerId)).toEqual([PEER]);
    expect(Number(db.$connection.prepare("SELECT count(*) FROM ahenk_meta WHERE key LIKE 'drift_notice:%'").value())).toBe(0);
    expect(Number(db.$connection.prepare("SELECT count(*) FROM ahenk_meta WHERE key NOT LIKE 'drift_notice:%'").value())).toBe(before);
    expect(() => recordPeerDriftNotice(db, '', { held: 1, aheadMs: 1 }, T0)).toThrow(TypeError);
  });
});
