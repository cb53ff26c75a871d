/**
 * `ahenk accept` as a real process on 127.0.0.1: it accepts the invitation a device that is not on
 * the list shows (here a Node InviteeWorkflow on TCP; a page's is tested in Chromium, through a
 * relay, in test/browser/invitation.test.ts), from the command line or from stdin; a malformed, a
 * forged, a used and an expired invitation and an unreachable device give their exit codes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/main.ts';
import { createSyncNode, InviteeWorkflow, type SyncNode } from '../../src/index.ts';
import { openDevice } from '../helpers/db.ts';
import { todos } from '../helpers/schema.ts';
import { appDatabase, cli, LOOPBACK, PASSWORD, tempDir, todoTitles } from './helpers.ts';

const nodes: SyncNode[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

/** A device that is not on any list, showing an invitation at its TCP address. */
async function invitee(ttlMs?: number) {
  const db = openDevice('invitee');
  const node = await createSyncNode(db, { listenAddresses: ['/ip4/127.0.0.1/tcp/0'], keepPort: false, reconnect: false });
  nodes.push(node);
  const workflow = new InviteeWorkflow(db, node, { deviceType: 'tablet', addresses: node.getMultiaddrs(), ...(ttlMs === undefined ? {} : { ttlMs }) });
  await workflow.createInvitation();
  const outcome = workflow.waitForAuthorizer();
  outcome.catch(() => {});
  return { db, node, workflow, code: workflow.getQrCodeString(), outcome };
}

async function laptop(): Promise<string> {
  const path = appDatabase(tempDir(), 'laptop', { id: 'on-laptop', title: 'written on the laptop' });
  expect((await cli(['init', '--db', path, '--user', 'ayse', '--email', 'ayse@example.test', '--device-type', 'laptop'], { env: { AHENK_PASSWORD: PASSWORD } })).code).toBe(0);
  return path;
}

describe('ahenk accept', () => {
  it('accepts an invitation read from stdin, lists the device, and waits for the first sync', async () => {
    const db = await laptop();
    const p = await invitee();
    p.db.insert(todos).values({ id: 'on-tablet', title: 'written on the tablet' }).run();
    const run = await cli(['accept', '-', '--db', db, ...LOOPBACK], { stdin: `${p.code}\n` });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`Paired: tablet ${p.node.peerId} joined ayse.`);
    expect(run.stdout).toMatch(/^First sync with \S+ complete: sent \d+, received [1-9]\d* entries\.$/m);
    expect(await p.outcome).toMatchObject({ userName: 'ayse', devices: 2 });
    expect(todoTitles(db)).toMatchObject({ 'on-tablet': 'written on the tablet' });
    // Used: the invitee no longer listens for it.
    const again = await cli(['accept', p.code, '--db', db, ...LOOPBACK]);
    expect(again.code).toBe(EXIT.pairing);
    expect(again.stderr).toContain('UNKNOWN_CHALLENGE');
  });

  it('exits 2 for a malformed invitation, 3 for a forged or expired one, 1 when the device is gone', async () => {
    const db = await laptop();
    expect((await cli(['accept', 'ahenk-pair:1:abc', '--db', db])).code).toBe(EXIT.usage);
    const empty = await cli(['accept', '-', '--db', db], { stdin: '\n' });
    expect([empty.code, empty.stderr]).toEqual([EXIT.usage, expect.stringContaining('accept -: stdin held no invitation') as string]);
    const p = await invitee(1_000);
    const [id, addresses, nonce, expiresAt, signature] = JSON.parse(Buffer.from(p.code.slice('ahenk-invite:1:'.length), 'base64url').toString()) as [string, string[], string, number, string];
    const forged = 'ahenk-invite:1:' + Buffer.from(JSON.stringify([id, addresses, nonce, expiresAt + 600_000, signature])).toString('base64url');
    const refused = await cli(['accept', forged, '--db', db, ...LOOPBACK]);
    expect([refused.code, refused.stderr]).toEqual([EXIT.pairing, expect.stringContaining('BAD_SIGNATURE') as string]);
    await expect(p.outcome).rejects.toMatchObject({ code: 'EXPIRED' });
    const expired = await cli(['accept', p.code, '--db', db, ...LOOPBACK]);
    expect([expired.code, expired.stderr]).toEqual([EXIT.pairing, expect.stringContaining('EXPIRED') as string]);

    const gone = await invitee();
    await gone.node.stop();
    const unreachable = await cli(['accept', gone.code, '--db', db, ...LOOPBACK]);
    expect([unreachable.code, unreachable.stderr]).toEqual([EXIT.failure, expect.stringContaining('could not reach') as string]);
  });
});
