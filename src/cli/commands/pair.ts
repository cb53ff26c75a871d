/**
 * `ahenk pair`: on a device that has the account, shows a pairing code and waits for the new
 * device to answer it (ahenk join), then stays until their first sync has completed, so the new
 * device leaves with the data and not only the account.
 */
import { DEFAULT_PAIRING_TTL_MS, PAIRING_LIMITS } from '../../auth/pairing/challenge.ts';
import type { SyncNode } from '../../sync/node/node.ts';
import { AuthorizerWorkflow } from '../../sync/pairing/authorizer.ts';
import { ShortCodeOffer } from '../../sync/pairing/short-code.ts';
import { DB_OPTION, flag, secondsOption, stringOption, withDatabase } from '../context.ts';
import { CommandFailedError, EXIT, UsageError } from '../errors.ts';
import { writeLine } from '../io.ts';
import { canAsk, confirm } from '../prompt.ts';
import { DAEMON_LISTEN_ADDRESSES, EventLog, NODE_OPTIONS, startNode } from '../node.ts';
import { renderTerminalQr } from '../qr.ts';
import type { CommandSpec } from '../spec.ts';
import { findUser, pairingFailure, recordCompletions, SYNC_IDLE_TIMEOUT_MS, waitForSync } from './pairing-shared.ts';

/** After the first sync, how long to let the new device finish and hang up before this node stops. */
const HANG_UP_GRACE_MS = 3_000;

export const pairCommand: CommandSpec = {
  name: 'pair',
  summary: 'show a pairing code for a new device and wait for it to join (run on a device that has the account)',
  description:
    'Starts a node, prints a single-use pairing code (drawn as a QR code at a terminal, its text always) and waits until a new ' +
    'device answers it with `ahenk join <code>`; at a terminal it asks before accepting the device (--yes skips that), ' +
    'and offers a short code to type with `ahenk join <short code> --from <address>`, confirmed by comparing a confirmation code on both screens. ' +
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
      // WebSockets as well as TCP, as `start`: the code then carries a /ws address a web page can dial.
      const node = await startNode(db, context, log, { listenAddresses: [...DAEMON_LISTEN_ADDRESSES] });
      const completed = recordCompletions(node);
      const unfollow = flag(context, 'verbose') ? log.follow(node) : () => {};
      // Someone who only saw the code on this screen could answer it first: a person at the terminal
      // gets to check the device's type and id before it learns anything.
      const ask = canAsk(context.io) && !flag(context, 'yes');
      let workflow: AuthorizerWorkflow | undefined;
      let offer: ShortCodeOffer | undefined;
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
                  // A device that came through the short code was compared and accepted already.
                  offer?.isConfirmed(d.peerId) === true ||
                  confirm(context.io, `A ${d.deviceType} (${d.peerId}) wants to join ${user.userName}. Accept?`).catch(() => {
                    cancelledAtPrompt = true;
                    return false;
                  }),
              }
            : {}),
        });
        const challenge = await workflow.createChallenge();
        const code = workflow.getQrCodeString();
        writeLine(stdout, `Pairing code for ${user.userName}, valid until ${new Date(challenge.expiresAt).toISOString()}:`);
        writeLine(stdout);
        // The QR code is for a person with a camera; scripts read the text line below it.
        if (stdout.isTTY === true) stdout.write(await renderTerminalQr(code));
        writeLine(stdout, code);
        writeLine(stdout);
        writeLine(stdout, 'On the new device run: ahenk join <code> --device-type <type> --db <its database>');
        const web = webAddress(node);
        if (web !== undefined) writeLine(stdout, `A web page joins with the same code (ahenk/browser: db.pairing.join); it dials ${web}`);
        // The short code needs a person on each side to compare the confirmation code.
        const from = ask ? typingAddress(node) : undefined;
        if (from !== undefined) {
          const current = workflow;
          offer = new ShortCodeOffer(node, {
            pairingCode: () => current.getQrCodeString(),
            compare: (d) =>
              confirm(context.io, `A ${d.deviceType} (${d.peerId}) typed the short code. Does it show the confirmation code ${d.confirmation}?`).catch(() => {
                cancelledAtPrompt = true;
                return false;
              }),
          });
          await offer.start();
          writeLine(stdout, `Or type the short code there: ahenk join ${offer.code} --from ${from} --device-type <type> --db <its database>`);
          if (web !== undefined) writeLine(stdout, `(in a web page: the short code, from ${web})`);
        }
        const device = await Promise.race([workflow.waitForResponse(), ...(offer ? [offer.failed] : [])]).catch((error: unknown) => {
          if (context.io.signal?.aborted || cancelledAtPrompt) throw new CommandFailedError('pairing cancelled', EXIT.interrupted);
          throw pairingFailure(error);
        });
        writeLine(stdout, `Paired: ${device.deviceType} ${device.peerId} joined ${user.userName}.`);
        const sync = await waitForSync(completed, device.peerId, SYNC_IDLE_TIMEOUT_MS, context.io.signal);
        writeLine(stdout, `First sync with ${device.peerId} complete: sent ${sync.sent}, received ${sync.received} entries.`);
        await hangUp(node, device.peerId, HANG_UP_GRACE_MS);
      } finally {
        unfollow();
        context.io.signal?.removeEventListener('abort', onSignal);
        await offer?.close();
        await workflow?.close();
        await node.stop();
      }
    }, { node: true });
  },
};

/** host:port of a direct TCP address to type on the other device: a LAN one before loopback. */
function typingAddress(node: SyncNode): string | undefined {
  const direct = node.getMultiaddrs().map((a) => /^\/ip4\/([\d.]+)\/tcp\/(\d+)\/p2p\/[^/]+$/.exec(a)).filter((m) => m !== null);
  const best = direct.find((m) => !m[1]!.startsWith('127.')) ?? direct[0];
  return best === undefined ? undefined : `${best[1]}:${best[2]}`;
}

/** The WebSocket address a page dials (a LAN one before loopback), if this node listens on one. */
function webAddress(node: SyncNode): string | undefined {
  const ws = node.getMultiaddrs().filter((a) => /^\/ip4\/[\d.]+\/tcp\/\d+\/ws\/p2p\//.test(a));
  return ws.find((a) => !a.startsWith('/ip4/127.')) ?? ws[0];
}

/** Lets the new device end the connection itself: stopping first could cut its last frames. */
async function hangUp(node: SyncNode, peerId: string, graceMs: number): Promise<void> {
  if (!node.peers().some((p) => p.peerId === peerId)) return;
  await node.once('peer:disconnect', { filter: (e) => e.peerId === peerId, signal: AbortSignal.timeout(graceMs) }).catch(() => {});
}
