/** What pair and join share: waiting for the first sync, and turning pairing failures into exit codes. */
import { PairingError } from '../../auth/pairing/errors.ts';
import type { SyncCompleteEvent } from '../../sync/node/events.ts';
import type { SyncNode } from '../../sync/node/node.ts';
import { CommandFailedError, EXIT, UsageError } from '../errors.ts';

export interface Completions {
  node: SyncNode;
  byPeer: Map<string, SyncCompleteEvent>;
}

/** Catch-ups by peer, recorded from the start, so one that completes before anyone waits is not missed. */
export function recordCompletions(node: SyncNode): Completions {
  const byPeer = new Map<string, SyncCompleteEvent>();
  node.on('sync:complete', (event) => byPeer.set(event.peerId, event));
  return { node, byPeer };
}

/** The first completed catch-up with `peerId`; fails after `timeoutMs`, or when `signal` aborts. */
export async function waitForSync(completions: Completions, peerId: string, timeoutMs: number, signal: AbortSignal | undefined): Promise<SyncCompleteEvent> {
  const done = completions.byPeer.get(peerId);
  if (done !== undefined) return done;
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    return await completions.node.once('sync:complete', { filter: (e) => e.peerId === peerId, signal: AbortSignal.any(signal ? [timeout, signal] : [timeout]) });
  } catch (error) {
    if (signal?.aborted) throw new CommandFailedError('stopped before the first sync completed', EXIT.interrupted);
    if (timeout.aborted) {
      throw new CommandFailedError(`paired, but the first sync with ${peerId} did not complete within ${timeoutMs / 1000} s; run ahenk start on both devices to sync`);
    }
    throw error;
  }
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
