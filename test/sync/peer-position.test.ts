/**
 * How far a peer holds our log (ahenk_cursors.acked): recorded by the session from the peer's
 * acknowledgements, so that status can count what still waits to be sent to it.
 */
import { describe, expect, it } from 'vitest';
import { storedPeerStatuses } from '../../src/sync/node/peer-store.ts';
import { openDevice } from '../helpers/db.ts';
import { authorizePeers, waitFor } from '../net/fixtures.ts';
import { createMemoryChannelPair, runSyncSession } from '../../src/transport.ts';
import { addTodos, idOf, syncPair, tabTurn, type Device } from './helpers.ts';

function acked(db: Device, peer: Device): bigint | null | undefined {
  return db.$connection.prepare('SELECT acked FROM ahenk_cursors WHERE peer_id = ?').value(idOf(peer)) as bigint | null | undefined;
}

function maxSeq(db: Device): bigint {
  return db.$connection.prepare('SELECT max(seq) FROM ahenk_oplog').value() as bigint;
}

function waiting(db: Device, peer: Device): number {
  return storedPeerStatuses(db.$connection, idOf(db)).find((p) => p.peerId === idOf(peer))?.waiting ?? -1;
}

describe('the peer position a session records', () => {
  it('is the end of our log once the peer has everything, over several batches; waiting then counts only new writes', async () => {
    const a = openDevice('a');
    const b = openDevice('b');
    // On each other's device list, so status lists them.
    await authorizePeers(a, [idOf(b)]);
    await authorizePeers(b, [idOf(a)]);
    addTodos(a, 'a', 250);
    addTodos(b, 'b', 3);
    expect(acked(a, b)).toBeUndefined();
    await syncPair(a, b, { batchSize: 40 });
    expect(acked(a, b)).toBe(maxSeq(a));
    expect(acked(b, a)).toBe(maxSeq(b));
    // b's entries merged into a's log are b's own: never waiting for b.
    expect(waiting(a, b)).toBe(0);
    expect(waiting(b, a)).toBe(0);

    addTodos(a, 'later', 5);
    expect(waiting(a, b)).toBe(5);
    await syncPair(a, b);
    expect(waiting(a, b)).toBe(0);
  });

  it('counts waiting from the exact acknowledged seq, which is an HLC above 2^53', async () => {
    const a = openDevice('a');
    const b = openDevice('b');
    await authorizePeers(a, [idOf(b)]);
    addTodos(a, 'a', 40);
    const seqs = (a.$connection.prepare('SELECT seq FROM ahenk_oplog ORDER BY seq').values() as [bigint][]).map(([seq]) => seq);
    // Read as a double, a seq this large rounds to a multiple of 16; some of these round down.
    expect(seqs.some((seq) => BigInt(Number(seq)) < seq)).toBe(true);
    const save = a.$connection.prepare('INSERT INTO ahenk_cursors (peer_id, acked) VALUES (?, ?) ON CONFLICT (peer_id) DO UPDATE SET acked = excluded.acked');
    const counted = seqs.map((seq) => {
      save.run(idOf(b), seq);
      return waiting(a, b);
    });
    expect(counted).toEqual(seqs.map((_, i) => seqs.length - 1 - i));
  });

  it('given a turn, is not written inside a transaction a tab holds open on the shared connection, and is written once it ends', async () => {
    const a = openDevice('a');
    const b = openDevice('b');
    addTodos(a, 'a', 250);
    const connection = a.$connection;
    const { turn, waiting, wake } = tabTurn(connection);
    // The "tab" begins its transaction on a's connection as soon as a's last window has gone out:
    // the acknowledgements, the catch-up and the session's end all come while it is open.
    let begun = false;
    const onProgress = (progress: { direction: string; entries: number }): void => {
      if (!begun && progress.direction === 'send' && progress.entries === 250) {
        begun = true;
        connection.exec('BEGIN');
        connection.prepare(`INSERT INTO todos (id, title, done) VALUES ('tab', 'in the open transaction', 0)`).run();
      }
    };
    const [ca, cb] = createMemoryChannelPair();
    const sessions = Promise.all([
      runSyncSession(a, ca, { localDeviceId: idOf(a), expectedRemoteDeviceId: idOf(b), batchSize: 40, turn, onProgress }),
      runSyncSession(b, cb, { localDeviceId: idOf(b), expectedRemoteDeviceId: idOf(a), batchSize: 40 }),
    ]);
    // b has every row and has acknowledged every batch while the tab's transaction is open.
    await waitFor(() => b.$connection.prepare(`SELECT count(*) FROM todos`).value() === 250n, 10_000, 'b has every row');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(begun).toBe(true);
    connection.exec('ROLLBACK');
    wake();
    await sessions;
    expect(acked(a, b)).toBe(maxSeq(a));
  });
});
