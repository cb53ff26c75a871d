/**
 * `ahenk join <code>`: on the new device, answers the pairing code another device shows (ahenk
 * pair), records the account and device list it gets back, and stays until the first sync with
 * that device has completed.
 */
import { decodePairingQr } from '../../auth/pairing/challenge.ts';
import { normalizeShortCode } from '../../auth/pairing/short-code.ts';
import { NewDeviceWorkflow } from '../../sync/pairing/new-device.ts';
import { exchangeShortCode } from '../../sync/pairing/short-code.ts';
import { DB_OPTION, flag, JSON_OPTION, secondsOption, stringOption, withDatabase } from '../context.ts';
import { CommandFailedError, EXIT, UsageError } from '../errors.ts';
import { EventLog, NODE_OPTIONS, startNode } from '../node.ts';
import { canAsk, confirm } from '../prompt.ts';
import type { CommandSpec } from '../spec.ts';
import { pairingFailure, readCode, recordCompletions, SYNC_IDLE_TIMEOUT_MS, waitForSync } from './pairing-shared.ts';


export const joinCommand: CommandSpec = {
  name: 'join',
  summary: 'join an account with the pairing code another device shows (ahenk pair), then sync once',
  description:
    'Starts a node, answers the pairing code, records the account and device list, and waits until\n' +
    `the first sync with the device that showed the code has completed; then exits 0. Exits ${EXIT.pairing}\n` +
    'when the code has expired, was already used, or is refused.',
  args: [{ name: '<code>', description: 'the pairing code printed by ahenk pair (starts with ahenk-pair:1:), - to read it from stdin, or the short code (ABCDE-FGHJK) with --from' }],
  options: [
    DB_OPTION,
    { flags: '--device-type <type>', description: 'how this device appears on the device list (phone, laptop, ...)', required: true },
    { flags: '--from <host:port|multiaddr>', description: 'with a short code: the address ahenk pair printed next to it' },
    { flags: '--sync-timeout <seconds>', description: `how long the first sync may go without progress before it is given up (default: ${SYNC_IDLE_TIMEOUT_MS / 1000}); a sync that keeps moving is never cut off` },
    { ...JSON_OPTION, description: 'print progress and the result as one JSON object per line' },
    ...NODE_OPTIONS,
  ],
  run: async (context) => {
    // `-`: the code comes on stdin, out of `ps` and shell history (it is a secret while it lasts).
    const given = context.args[0] ?? '';
    const code = (given === '-' ? await readCode(context, 'join') : given).trim();
    const syncTimeoutMs = secondsOption(context, 'syncTimeout', '--sync-timeout', SYNC_IDLE_TIMEOUT_MS);
    // A mistyped code fails here, before any database or socket is opened.
    const short = code.startsWith('ahenk-pair:') ? undefined : normalizeShortCode(code);
    const fromText = stringOption(context, 'from');
    const from = fromText === undefined ? undefined : addressOf(fromText);
    let authorizer: string | undefined;
    if (short === undefined) {
      try {
        authorizer = decodePairingQr(code).authorizer;
      } catch (error) {
        throw pairingFailure(error);
      }
    } else {
      if (from === undefined) throw new UsageError('a short code needs --from <host:port>, the address ahenk pair printed next to it');
      // The person compares the confirmation code on both screens: that is what makes 50 bits enough.
      if (!canAsk(context.io)) throw new UsageError('a short code needs a terminal to compare the confirmation code; scripts pass the full pairing code');
    }
    // A running node (start, a daemon) already has this database's identity: the node lock refuses a second.
    return withDatabase(context, async (db) => {
      const log = new EventLog(context.io, flag(context, 'json'));
      const node = await startNode(db, context, log);
      const completions = recordCompletions(node);
      const unfollow = flag(context, 'verbose') ? log.follow(node) : () => {};
      const hideProgress = log.showProgress(node);
      try {
        const deviceType = stringOption(context, 'deviceType') ?? '';
        const workflow = new NewDeviceWorkflow(db, node, { deviceType });
        const signal = context.io.signal;
        let cancelledAtPrompt = false;
        const failed = (error: unknown): never => {
          if (signal?.aborted || cancelledAtPrompt) throw new CommandFailedError('pairing cancelled', EXIT.interrupted);
          const failure = pairingFailure(error);
          if (failure instanceof CommandFailedError || failure instanceof UsageError) throw failure;
          throw new CommandFailedError(`could not reach the device that showed the code: ${failure.message}`);
        };
        let pairingCode = code;
        if (short !== undefined && from !== undefined) {
          const compare = (confirmation: string) =>
            confirm(context.io, `Does the other device show the confirmation code ${confirmation}?`).catch(() => {
              cancelledAtPrompt = true;
              return false;
            });
          pairingCode = (await exchangeShortCode(node, from, short, deviceType, compare, signal ? { signal } : {}).catch(failed)).pairingCode;
          authorizer = decodePairingQr(pairingCode).authorizer;
        }
        const result = await workflow.respondToChallenge(pairingCode, signal ? { signal } : {}).catch(failed);
        log.message('joined', { userName: result.userName, userId: result.userId, authorizer: result.authorizer, devices: result.devices }, `Joined ${result.userName} (user ${result.userId}) through ${result.authorizer}; ${result.devices} devices on the list.`);
        const sync = await waitForSync(completions, authorizer ?? result.authorizer, syncTimeoutMs, signal);
        log.message('sync:complete', { peerId: sync.peerId, received: sync.received, sent: sync.sent, bytesReceived: sync.bytesReceived, bytesSent: sync.bytesSent }, `First sync complete: received ${sync.received}, sent ${sync.sent} entries.`);
      } finally {
        hideProgress();
        unfollow();
        await node.stop();
      }
    }, { node: true });
  },
};

/** `192.168.1.5:41234` as a multiaddr; a multiaddr as it is. */
function addressOf(from: string): string {
  if (from.startsWith('/')) return from;
  const match = /^(\[[0-9a-fA-F:]+\]|[^:\s]+):(\d{1,5})$/.exec(from.trim());
  if (match === null) throw new UsageError(`--from must be host:port or a multiaddr, got "${from}"`);
  const host = match[1]!;
  const port = match[2]!;
  if (host.startsWith('[')) return `/ip6/${host.slice(1, -1)}/tcp/${port}`;
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) ? `/ip4/${host}/tcp/${port}` : `/dns/${host}/tcp/${port}`;
}
