/**
 * Pairing where the new device's connection is shared with transactions held across awaits (the
 * browser's tabs, src/browser/leader.ts): the account and the device list the authorizer sent are
 * recorded only in the node's turn, never inside a tab's open transaction, whose ROLLBACK would
 * take them away after the authorizer had listed this device.
 */
import { describe, expect, it } from 'vitest';
import { acceptInvitation, InviteeWorkflow, NewDeviceWorkflow, registerUser } from '../../src/index.ts';
import { takeTurn } from '../../src/sync/session/turn.ts';
import { openDevice } from '../helpers/db.ts';
import { waitFor } from '../net/fixtures.ts';
import { idOf, tabTurn } from './helpers.ts';
import { authorizer, node } from './pairing-fixtures.ts';

describe('pairing on a shared connection', () => {
  it('an invitee records the pairing only once the tab that holds a transaction open has ended it', async () => {
    const a = openDevice('a');
    const user = await registerUser(a, 'ayse', 'ayse@example.test', 'a long pass phrase');
    const nodeA = await node(a);
    const p = openDevice('p');
    const nodeP = await node(p);
    const { turn, waiting, wake } = tabTurn(p.$connection);
    const pairingNode = {
      peerId: nodeP.peerId,
      libp2p: nodeP.libp2p,
      stopSignal: new AbortController().signal,
      syncNow: () => nodeP.syncNow(),
      takeTurn: (signal: AbortSignal) => takeTurn(turn, signal),
    };
    const workflow = new InviteeWorkflow(p, pairingNode, { deviceType: 'phone', addresses: nodeP.getMultiaddrs() });
    await workflow.createInvitation();
    let settled = false;
    const outcome = workflow.waitForAuthorizer().finally(() => (settled = true));
    outcome.catch(() => {});
    p.$connection.exec('BEGIN');
    p.$connection.prepare(`INSERT INTO todos (id, title, done) VALUES ('tab', 'in the open transaction', 0)`).run();
    const accepted = acceptInvitation(a, nodeA, workflow.getQrCodeString(), { userId: user.id });
    accepted.catch(() => {});
    await waitFor(() => waiting() > 0 || settled, 20_000, 'the invitee at the point of recording');
    p.$connection.exec('ROLLBACK');
    wake();
    expect((await outcome).userId).toBe(user.id);
    await accepted;
    expect(p.$connection.prepare(`SELECT count(*) FROM ahenk_users WHERE id = ?`).value(user.id)).toBe(1n);
    expect(p.$connection.prepare(`SELECT count(*) FROM ahenk_devices WHERE peer_id IN (?, ?) AND revoked_at IS NULL`).value(nodeP.peerId, nodeA.peerId)).toBe(2n);
    await workflow.close();
  }, 60_000);

  it('records the pairing only once the tab that holds a transaction open has ended it', async () => {
    const { a, user, qr } = await authorizer();
    const b = openDevice('b');
    const nodeB = await node(b);
    const connection = b.$connection;
    const { turn, waiting, wake } = tabTurn(connection);
    const pairingNode = {
      peerId: nodeB.peerId,
      libp2p: nodeB.libp2p,
      stopSignal: new AbortController().signal,
      syncNow: () => nodeB.syncNow(),
      takeTurn: (signal: AbortSignal) => takeTurn(turn, signal),
    };
    // The "tab": a transaction left open across awaits on b's connection.
    connection.exec('BEGIN');
    connection.prepare(`INSERT INTO todos (id, title, done) VALUES ('tab', 'in the open transaction', 0)`).run();
    let settled = false;
    const pairing = new NewDeviceWorkflow(b, pairingNode, { deviceType: 'phone' }).respondToChallenge(qr).finally(() => (settled = true));
    await waitFor(() => waiting() > 0 || settled, 20_000, 'the pairing at the point of recording');
    // The tab rolls back, then its turn ends.
    connection.exec('ROLLBACK');
    wake();
    const result = await pairing;
    expect(result.userId).toBe(user.id);
    // What the pairing recorded outlived the tab's rollback; the tab's own row did not.
    expect(connection.prepare(`SELECT count(*) FROM ahenk_users WHERE id = ?`).value(user.id)).toBe(1n);
    expect(connection.prepare(`SELECT count(*) FROM ahenk_devices WHERE peer_id IN (?, ?) AND revoked_at IS NULL`).value(nodeB.peerId, idOf(a))).toBe(2n);
    expect(connection.prepare(`SELECT count(*) FROM todos WHERE id = 'tab'`).value()).toBe(0n);
  }, 60_000);
});
