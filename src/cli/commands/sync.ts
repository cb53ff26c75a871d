/**
 * `ahenk sync --once`: starts a node, syncs with every known peer (and every --peer) until each
 * has caught up, and exits: for cron jobs, scripts and a "sync now" button. A sync that keeps
 * moving is never cut off; one with no progress for --sync-timeout seconds is.
 */
import { databasePath, DB_OPTION, flag, JSON_OPTION, secondsOption, stringsOption, withDatabase } from '../context.ts';
import { CommandFailedError, EXIT, UsageError } from '../errors.ts';
import { writeLine } from '../io.ts';
import { EventLog, NODE_OPTIONS, startNode } from '../node.ts';
import type { CommandSpec } from '../spec.ts';
import { daemonFiles, refuseIfDaemonRunning } from './daemon-files.ts';
import { recordCompletions, SYNC_IDLE_TIMEOUT_MS, waitForSync } from './pairing-shared.ts';

export const syncCommand: CommandSpec = {
  name: 'sync',
  summary: 'sync once with every known peer and exit (--once)',
  description:
    'Starts a node, dials the peers remembered from earlier runs and those given with --peer, waits until ' +
    'the sync with each has caught up in both directions, then exits. At a terminal it draws a progress bar; ' +
    'with --json it prints progress and results as one JSON object per line.\n' +
    `Exits 0 when every peer synced, ${EXIT.failure} when a peer could not be reached or its sync failed, ` +
    `${EXIT.usage} when there is no peer to sync with, ${EXIT.stalled} when a sync made no progress for --sync-timeout seconds.`,
  options: [
    DB_OPTION,
    { flags: '--once', description: 'sync until every peer has caught up, then exit (required: ahenk start keeps syncing)' },
    { flags: '--sync-timeout <seconds>', description: `how long a sync may go without progress before it is given up (default: ${SYNC_IDLE_TIMEOUT_MS / 1000})` },
    { ...JSON_OPTION, description: 'print progress and results as one JSON object per line' },
    ...NODE_OPTIONS,
  ],
  run: (context) => {
    if (!flag(context, 'once')) throw new UsageError('ahenk sync needs --once (to keep syncing, run ahenk start)');
    const idleMs = secondsOption(context, 'syncTimeout', '--sync-timeout', SYNC_IDLE_TIMEOUT_MS);
    // A running daemon is already a node with this database's identity, and it syncs by itself.
    refuseIfDaemonRunning(daemonFiles(databasePath(context)));
    return withDatabase(context, async (db) => {
      const log = new EventLog(context.io, flag(context, 'json'));
      // Not live: each session ends once both sides have caught up.
      const node = await startNode(db, context, log, { live: false });
      const completions = recordCompletions(node);
      const unfollow = flag(context, 'verbose') ? log.follow(node) : () => {};
      const hideProgress = log.showProgress(node);
      const failures: { peerId: string; error: Error }[] = [];
      try {
        const targets = new Set(node.knownPeers().map((p) => p.peerId).filter((id) => node.isAuthorized(id)));
        for (const address of stringsOption(context, 'peer')) {
          const peerId = await node.dial(address, context.io.signal ? { signal: context.io.signal } : {}).catch((error: unknown) => {
            failures.push({ peerId: address, error: new CommandFailedError(`could not reach ${address}: ${(error as Error).message}`) });
            return undefined;
          });
          if (peerId === undefined) continue;
          if (node.isAuthorized(peerId)) targets.add(peerId);
          else failures.push({ peerId, error: new CommandFailedError(`${peerId} at ${address} is not on this account's device list`) });
        }
        if (targets.size === 0 && failures.length === 0) throw new UsageError('no peer to sync with: pass --peer <multiaddr>, or pair a device first (ahenk pair / ahenk join)');
        const results = await Promise.allSettled([...targets].map((peerId) => waitForSync(completions, peerId, idleMs, context.io.signal)));
        results.forEach((result, i) => {
          const peerId = [...targets][i]!;
          if (result.status === 'rejected') return failures.push({ peerId, error: result.reason instanceof Error ? result.reason : new Error(String(result.reason)) });
          const s = result.value;
          log.message(
            'sync:complete',
            { peerId, sent: s.sent, received: s.received, bytesSent: s.bytesSent, bytesReceived: s.bytesReceived, durationMs: Math.round(s.durationMs) },
            `synced with ${peerId}: sent ${s.sent}, received ${s.received} entries (${Math.round(s.durationMs)} ms)`,
          );
        });
      } finally {
        hideProgress();
        unfollow();
        await node.stop();
      }
      if (context.io.signal?.aborted) throw new CommandFailedError('stopped before every peer had synced', EXIT.interrupted);
      if (failures.length === 0) return;
      for (const f of failures.slice(0, -1)) {
        if (log.json) log.message('sync:failed', { peerId: f.peerId, message: f.error.message }, '');
        else writeLine(context.io.stderr, `ahenk: ${f.error.message}`);
      }
      const last = failures.at(-1)!;
      // Stalled wins: it says "try again", where a plain failure may need a fix first.
      const code = failures.some((f) => f.error instanceof CommandFailedError && f.error.exitCode === EXIT.stalled) ? EXIT.stalled : EXIT.failure;
      throw new CommandFailedError(last.error.message, code);
    });
  },
};
