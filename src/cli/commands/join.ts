/**
 * `ahenk join <code>`: on the new device, answers the pairing code another device shows (ahenk
 * pair), records the account and device list it gets back, and stays until the first sync with
 * that device has completed.
 */
import { decodePairingQr } from '../../auth/pairing/challenge.ts';
import { NewDeviceWorkflow } from '../../sync/pairing/new-device.ts';
import { DB_OPTION, flag, secondsOption, stringOption, withDatabase } from '../context.ts';
import { CommandFailedError, EXIT, UsageError } from '../errors.ts';
import { writeLine } from '../io.ts';
import { EventLog, NODE_OPTIONS, startNode } from '../node.ts';
import type { CommandContext, CommandSpec } from '../spec.ts';
import { pairingFailure, recordCompletions, waitForSync } from './pairing-shared.ts';

const FIRST_SYNC_TIMEOUT_MS = 60_000;

export const joinCommand: CommandSpec = {
  name: 'join',
  summary: 'join an account with the pairing code another device shows (ahenk pair), then sync once',
  description:
    'Starts a node, answers the pairing code, records the account and device list, and waits until\n' +
    `the first sync with the device that showed the code has completed; then exits 0. Exits ${EXIT.pairing}\n` +
    'when the code has expired, was already used, or is refused.',
  args: [{ name: '<code>', description: 'the pairing code printed by ahenk pair (starts with ahenk-pair:1:), or - to read it from stdin' }],
  options: [
    DB_OPTION,
    { flags: '--device-type <type>', description: 'how this device appears on the device list (phone, laptop, ...)', required: true },
    { flags: '--sync-timeout <seconds>', description: `how long to wait for the first sync (default: ${FIRST_SYNC_TIMEOUT_MS / 1000})` },
    ...NODE_OPTIONS,
  ],
  run: async (context) => {
    // `-`: the code comes on stdin, out of `ps` and shell history (it is a secret while it lasts).
    const given = context.args[0] ?? '';
    const code = (given === '-' ? await readCode(context) : given).trim();
    const syncTimeoutMs = secondsOption(context, 'syncTimeout', '--sync-timeout', FIRST_SYNC_TIMEOUT_MS);
    // A mistyped code fails here, before any database or socket is opened.
    let authorizer: string;
    try {
      authorizer = decodePairingQr(code).authorizer;
    } catch (error) {
      throw pairingFailure(error);
    }
    // A running node (start, a daemon) already has this database's identity: the node lock refuses a second.
    return withDatabase(context, async (db) => {
      const { stdout } = context.io;
      const log = new EventLog(context.io, false);
      const node = await startNode(db, context, log);
      const completions = recordCompletions(node);
      const unfollow = flag(context, 'verbose') ? log.follow(node) : () => {};
      try {
        const workflow = new NewDeviceWorkflow(db, node, { deviceType: stringOption(context, 'deviceType') ?? '' });
        const signal = context.io.signal;
        const result = await workflow.respondToChallenge(code, signal ? { signal } : {}).catch((error: unknown) => {
          if (signal?.aborted) throw new CommandFailedError('pairing cancelled', EXIT.interrupted);
          const failure = pairingFailure(error);
          if (failure instanceof CommandFailedError || failure instanceof UsageError) throw failure;
          throw new CommandFailedError(`could not reach the device that showed the code: ${failure.message}`);
        });
        writeLine(stdout, `Joined ${result.userName} (user ${result.userId}) through ${result.authorizer}; ${result.devices} devices on the list.`);
        const sync = await waitForSync(completions, authorizer, syncTimeoutMs, signal);
        writeLine(stdout, `First sync complete: received ${sync.received}, sent ${sync.sent} entries.`);
      } finally {
        unfollow();
        await node.stop();
      }
    }, { node: true });
  },
};

/** The first line of stdin, bounded like a pairing code. */
async function readCode(context: CommandContext): Promise<string> {
  const stdin = context.io.stdin;
  if (stdin === undefined) throw new UsageError('join -: no stdin to read the pairing code from');
  let text = '';
  for await (const chunk of stdin) {
    text += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    if (text.includes('\n') || text.length > 4096) break;
  }
  const line = text.split('\n')[0] ?? '';
  if (line.trim() === '') throw new UsageError('join -: stdin held no pairing code');
  return line;
}
