/** What pair and join share: waiting for the first sync, and turning pairing failures into exit codes. */
import { PairingError } from '../../auth/pairing/errors.ts';
import type { SyncCompleteEvent } from '../../sync/node/events.ts';
import type { SyncNode } from '../../sync/node/node.ts';
import { CommandFailedError, EXIT, UsageError } from '../errors.ts';

/** A sync may run as long as it moves; this long without progress (or without starting), it has stalled. */
export const SYNC_IDLE_TIMEOUT_MS = 60_000;

/** The node's events, all waiting needs (a SyncNodeEmitter in unit tests). */
export type SyncEvents = Pick<SyncNode, 'on' | 'once'>;

export interface Completions {
  node: SyncEvents;
  byPeer: Map<string, SyncCompleteEvent>;
}

/** Catch-ups by peer, recorded from the start, so one that completes before anyone waits is not missed. */
export function recordCompletions(node: SyncEvents): Completions {
  const byPeer = new Map<string, SyncCompleteEvent>();
  node.on('sync:complete', (event) => byPeer.set(event.peerId, event));
  return { node, byPeer };
}

/**
 * The first completed catch-up with `peerId`. `idleTimeoutMs` is an idle timeout: it starts again
 * with every progress event of that peer, so a large first sync that keeps moving is never cut
 * off, and one that stalls (or never starts) fails with EXIT.stalled. Ends on `signal` too.
 */
export async function waitForSync(completions: Completions, peerId: string, idleTimeoutMs: number, signal: AbortSignal | undefined): Promise<SyncCompleteEvent> {
  const done = completions.byPeer.get(peerId);
  if (done !== undefined) return done;
  const idle = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const rearm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => idle.abort(), idleTimeoutMs);
  };
  rearm();
  const offs = [
    completions.node.on('sync:start', (e) => e.peerId === peerId && rearm()),
    completions.node.on('sync:progress', (e) => e.peerId === peerId && rearm()),
  ];
  try {
    return await completions.node.once('sync:complete', { filter: (e) => e.peerId === peerId, signal: AbortSignal.any(signal ? [idle.signal, signal] : [idle.signal]) });
  } catch (error) {
    if (signal?.aborted) throw new CommandFailedError('stopped before the first sync completed', EXIT.interrupted);
    if (idle.signal.aborted) throw stalled(peerId, idleTimeoutMs);
    throw error;
  } finally {
    clearTimeout(timer);
    offs.forEach((off) => off());
  }
}

/** The failure of a sync with no progress for `idleTimeoutMs`. */
export function stalled(peerId: string, idleTimeoutMs: number): CommandFailedError {
  return new CommandFailedError(
    `the sync with ${peerId} made no progress for ${idleTimeoutMs / 1000} s; check that the other device is running and reachable, then run ahenk sync --once (or ahenk start) to go on where it stopped`,
    EXIT.stalled,
  );
}

/** A pairing that did not happen: a malformed code is a usage error, an unreachable device a failure, a refusal EXIT.pairing. */
export function pairingFailure(error: unknown): Error {
  if (!(error instanceof PairingError)) return error instanceof Error ? error : new Error(String(error));
  if (error.code === 'INVALID_QR') return new UsageError(`that is not a pairing code: ${error.message}`);
  if (error.code === 'CANCELLED') return new CommandFailedError(`pairing cancelled: ${error.message}`, EXIT.interrupted, { cause: error });
  // Nothing was decided about the pairing: the other device was not there (a network failure).
  if (String(error.code) === 'UNREACHABLE') return new CommandFailedError(error.message, EXIT.failure, { cause: error });
  return new CommandFailedError(`pairing failed (${error.code}): ${error.message}`, EXIT.pairing, { cause: error });
}
