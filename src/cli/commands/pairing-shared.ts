/** What pair, join and accept share: finding the account, reading a code from stdin, waiting for the first sync, and turning pairing failures into exit codes. */
import { PairingError } from '../../auth/pairing/errors.ts';
import type { SyncCompleteEvent } from '../../sync/node/events.ts';
import type { SyncNode } from '../../sync/node/node.ts';
import type { SqliteConnection } from '../../sqlite/index.ts';
import { CommandFailedError, EXIT, UsageError } from '../errors.ts';
import type { CommandContext } from '../spec.ts';

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

/** The account a pairing is for: `login` (name or email), or the only one in the database. */
export function findUser(raw: SqliteConnection, login: string | undefined): { id: string; userName: string } {
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

/** The first line of stdin, bounded like a pairing code. */
export async function readCode(context: CommandContext, command: 'join' | 'accept'): Promise<string> {
  const stdin = context.io.stdin;
  if (stdin === undefined) throw new UsageError(`${command} -: no stdin to read the ${command === 'join' ? 'pairing code' : 'invitation'} from`);
  let text = '';
  for await (const chunk of stdin) {
    text += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    if (text.includes('\n') || text.length > 4096) break;
  }
  const line = text.split('\n')[0] ?? '';
  if (line.trim() === '') throw new UsageError(`${command} -: stdin held no ${command === 'join' ? 'pairing code' : 'invitation'}`);
  return line;
}
