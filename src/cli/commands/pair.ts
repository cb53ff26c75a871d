/**
 * `ahenk pair`: on a device that has the account, shows a pairing code and waits for the new
 * device to answer it (ahenk join), then stays until their first sync has completed, so the new
 * device leaves with the data and not only the account.
 */
import type { SqliteConnection } from '../../sqlite/index.ts';
import { DEFAULT_PAIRING_TTL_MS, PAIRING_LIMITS } from '../../auth/pairing/challenge.ts';
import type { SyncNode } from '../../sync/node/node.ts';
import { AuthorizerWorkflow } from '../../sync/pairing/authorizer.ts';
import { DB_OPTION, flag, secondsOption, stringOption, withDatabase } from '../context.ts';
import { CommandFailedError, EXIT, UsageError } from '../errors.ts';
import { writeLine } from '../io.ts';
import { canAsk, confirm } from '../prompt.ts';
import { EventLog, NODE_OPTIONS, startNode } from '../node.ts';
import type { CommandSpec } from '../spec.ts';
import { pairingFailure, recordCompletions, waitForSync } from './pairing-shared.ts';

/** The new device syncs right after pairing; a minute covers a large first sync on a slow link. */
const FIRST_SYNC_TIMEOUT_MS = 60_000;
/** After the first sync, how long to let the new device finish and hang up before this node stops. */
const HANG_UP_GRACE_MS = 3_000;

export const pairCommand: CommandSpec = {
  name: 'pair',
  summary: 'show a pairing code for a new device and wait for it to join (run on a device that has the account)',
  description:
    'Starts a node, prints a single-use pairing code (the text of the QR code) and waits until a new ' +
    'device answers it with `ahenk join <code>`; at a terminal it asks before accepting the device (--yes skips that). ' +
    'Then waits for their first sync and exits 0.\n' +
    `Exits ${EXIT.pairing} when the code expires or the pairing is refused.`,
  options: [
    DB_OPTION,
    { flags: '--user <name|email>', description: 'the account the new device joins (default: the only account in the database)' },
    { flags: '--device-type <type>', description: 'how this device lists itself if it is not on the device list yet', default: 'device' },
    { flags: '--yes', description: 'accept the device that answers the code without asking (asked only when stdin is a terminal)' },
    { flags: '--ttl <seconds>', description: `how long the code stays valid (default: ${DEFAULT_PAIRING_TTL_MS / 1000}, at most ${PAIRING_LIMITS.maxTtlMs / 1000})` },
    ...NODE_OPTIONS,
  ],
  run: (context) => {
    const ttlMs = secondsOption(context, 'ttl', '--ttl', DEFAULT_PAIRING_TTL_MS, PAIRING_LIMITS.maxTtlMs);
    // A running node (start, a daemon) already has this database's identity: the node lock refuses a second.
    return withDatabase(context, async (db) => {
      const user = findUser(db.$connection, stringOption(context, 'user'));
      const { stdout } = context.io;
      const log = new EventLog(context.io, false);
      const node = await startNode(db, context, log);
      const completed = recordCompletions(node);
      const unfollow = flag(context, 'verbose') ? log.follow(node) : () => {};
      // Someone who only saw the code on this screen could answer it first: a person at the terminal
      // gets to check the device's type and id before it learns anything.
      const ask = canAsk(context.io) && !flag(context, 'yes');
      let workflow: AuthorizerWorkflow | undefined;
      let cancelledAtPrompt = false;
      const onSignal = () => void workflow?.close();
      context.io.signal?.addEventListener('abort', onSignal, { once: true });
      try {
        workflow = new AuthorizerWorkflow(db, node, {
          userId: user.id,
          deviceType: stringOption(context, 'deviceType') ?? 'device',
          ttlMs,
          // A prompt interrupted by Ctrl-C refuses the device; the command then exits as interrupted.
          ...(ask
            ? {
                confirm: (d: { peerId: string; deviceType: string }) =>
                  confirm(context.io, `A ${d.deviceType} (${d.peerId}) wants to join ${user.userName}. Accept?`).catch(() => {
                    cancelledAtPrompt = true;
                    return false;
                  }),
              }
            : {}),
        });
        const challenge = await workflow.createChallenge();
        writeLine(stdout, `Pairing code for ${user.userName}, valid until ${new Date(challenge.expiresAt).toISOString()}:`);
        writeLine(stdout);
        writeLine(stdout, workflow.getQrCodeString());
        writeLine(stdout);
        writeLine(stdout, 'On the new device run: ahenk join <code> --device-type <type> --db <its database>');
        const device = await workflow.waitForResponse().catch((error: unknown) => {
          if (context.io.signal?.aborted || cancelledAtPrompt) throw new CommandFailedError('pairing cancelled', EXIT.interrupted);
          throw pairingFailure(error);
        });
        writeLine(stdout, `Paired: ${device.deviceType} ${device.peerId} joined ${user.userName}.`);
        const sync = await waitForSync(completed, device.peerId, FIRST_SYNC_TIMEOUT_MS, context.io.signal);
        writeLine(stdout, `First sync with ${device.peerId} complete: sent ${sync.sent}, received ${sync.received} entries.`);
        await hangUp(node, device.peerId, HANG_UP_GRACE_MS);
      } finally {
        unfollow();
        context.io.signal?.removeEventListener('abort', onSignal);
        await workflow?.close();
        await node.stop();
      }
    }, { node: true });
  },
};

function findUser(raw: SqliteConnection, login: string | undefined): { id: string; userName: string } {
  const users = raw.prepare('SELECT id, user_name AS userName, email FROM ahenk_users ORDER BY created_at, id').all() as { id: string; userName: string; email: string }[];
  if (users.length === 0) throw new UsageError('this database has no account: register one with ahenk init --user <name> --email <email>');
  if (login === undefined) {
    if (users.length === 1) return users[0]!;
    throw new UsageError(`this database has ${users.length} accounts; say which with --user <name|email>`);
  }
  const wanted = login.trim();
  const user = users.find((u) => u.userName === wanted || u.email === wanted.toLowerCase());
  if (user === undefined) throw new UsageError(`no account "${wanted}" in this database`);
  return user;
}

/** Lets the new device end the connection itself: stopping first could cut its last frames. */
async function hangUp(node: SyncNode, peerId: string, graceMs: number): Promise<void> {
  if (!node.peers().some((p) => p.peerId === peerId)) return;
  await node.once('peer:disconnect', { filter: (e) => e.peerId === peerId, signal: AbortSignal.timeout(graceMs) }).catch(() => {});
}
