/**
 * `ahenk accept <code>`: on a device that has the account, accepts the invitation a new device
 * shows (a web page's QR code, ahenk-invite:1:…): dials it at the address the invitation carries
 * (a relay circuit for a page), pairs it (acceptInvitation), and stays until their first sync.
 */
import { decodePairingInvitation } from '../../auth/pairing/invitation.ts';
import { acceptInvitation } from '../../sync/pairing/accept-invitation.ts';
import { DB_OPTION, flag, secondsOption, stringOption, withDatabase } from '../context.ts';
import { CommandFailedError, EXIT } from '../errors.ts';
import { writeLine } from '../io.ts';
import { EventLog, NODE_OPTIONS, startNode } from '../node.ts';
import type { CommandSpec } from '../spec.ts';
import { findUser, pairingFailure, readCode, recordCompletions, SYNC_IDLE_TIMEOUT_MS, waitForSync } from './pairing-shared.ts';

export const acceptCommand: CommandSpec = {
  name: 'accept',
  summary: 'accept the invitation a new device shows (a web page\'s QR code), then sync once (run on a device that has the account)',
  description:
    'Starts a node, checks the invitation\'s signature and expiry, dials the device that shows it (through the relay its code names),\n' +
    'proves this device\'s key and hands it the account and device list; once it is on the list, waits for their first sync and exits 0.\n' +
    `Exits ${EXIT.pairing} when the invitation has expired, was already used, or is refused.`,
  args: [{ name: '<code>', description: 'the invitation the new device shows (starts with ahenk-invite:1:), or - to read it from stdin' }],
  options: [
    DB_OPTION,
    { flags: '--user <name|email>', description: 'the account the new device joins (default: the only account in the database)' },
    { flags: '--device-type <type>', description: 'how this device lists itself if it is not on the device list yet', default: 'device' },
    { flags: '--sync-timeout <seconds>', description: `how long the first sync may go without progress before it is given up (default: ${SYNC_IDLE_TIMEOUT_MS / 1000})` },
    ...NODE_OPTIONS,
  ],
  run: async (context) => {
    // `-`: the code comes on stdin, out of `ps` and shell history (it is a secret while it lasts).
    const given = context.args[0] ?? '';
    const code = (given === '-' ? await readCode(context, 'accept') : given).trim();
    const syncTimeoutMs = secondsOption(context, 'syncTimeout', '--sync-timeout', SYNC_IDLE_TIMEOUT_MS);
    // A mistyped code fails here, before any database or socket is opened.
    try {
      decodePairingInvitation(code);
    } catch (error) {
      throw pairingFailure(error);
    }
    return withDatabase(context, async (db) => {
      const user = findUser(db.$connection, stringOption(context, 'user'));
      const { stdout } = context.io;
      const log = new EventLog(context.io, false);
      const node = await startNode(db, context, log);
      const completed = recordCompletions(node);
      const unfollow = flag(context, 'verbose') ? log.follow(node) : () => {};
      const signal = context.io.signal;
      try {
        const device = await acceptInvitation(db, node, code, { userId: user.id, deviceType: stringOption(context, 'deviceType') ?? 'device', ...(signal ? { signal } : {}) }).catch((error: unknown) => {
          if (signal?.aborted) throw new CommandFailedError('pairing cancelled', EXIT.interrupted);
          throw pairingFailure(error);
        });
        writeLine(stdout, `Paired: ${device.deviceType} ${device.peerId} joined ${user.userName}.`);
        const sync = await waitForSync(completed, device.peerId, syncTimeoutMs, signal);
        writeLine(stdout, `First sync with ${device.peerId} complete: sent ${sync.sent}, received ${sync.received} entries.`);
      } finally {
        unfollow();
        await node.stop();
      }
    }, { node: true });
  },
};
