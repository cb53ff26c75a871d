/**
 * /ahenk/pair/1.0.0 streams as frame channels, and reading the one frame each side expects with
 * a deadline, so a peer that connects and says nothing cannot hold a pairing open.
 */
import type { Libp2p, Stream } from '@libp2p/interface';
import { MAX_PAIRING_FRAME_BYTES } from '../../auth/pairing/messages.ts';
import { PairingError } from '../../auth/pairing/errors.ts';
import { byteChannelOf } from '../node/byte-stream.ts';
import type { FrameChannel } from '../session/channel.ts';
import { createFramedChannel } from '../session/framed-channel.ts';

export const PAIR_PROTOCOL = '/ahenk/pair/1.0.0';
/** A pairing message is small and the peer is on the same LAN or a relay: ten seconds is ample. */
export const PAIR_MESSAGE_TIMEOUT_MS = 10_000;
/** The accept may wait for a person to confirm the device on the authorizer: two minutes, a code's default lifetime. */
export const PAIR_CONFIRM_TIMEOUT_MS = 120_000;

/**
 * What the new device's side of pairing needs of a node: a Node SyncNode or a page's WebSyncNode
 * (which dials only, so it joins but cannot show a code).
 */
export interface PairingNode {
  readonly peerId: string;
  readonly libp2p: Libp2p;
  /** Aborts when the node stops. */
  readonly stopSignal: AbortSignal;
  syncNow(): Promise<unknown>;
  /**
   * Where the database's connection is shared with transactions held across awaits (a browser's
   * tabs): resolves when no such transaction is open, and the pairing writes right after, in the
   * same continuation. Without it, a pairing recorded inside a tab's transaction went with its ROLLBACK.
   */
  takeTurn?(signal: AbortSignal): Promise<void>;
}

/** A pairing stream: whole frames out, and the next frame in, one at a time, each with a deadline. */
export interface PairingChannel {
  send(frame: Uint8Array): Promise<void>;
  /** The next frame; PairingError PROTOCOL when the stream ends first or time runs out, CANCELLED on `signal`. */
  next(signal?: AbortSignal, timeoutMs?: number): Promise<Uint8Array>;
  close(): Promise<void>;
  abort(reason: Error): void;
}

/** `maxFrameBytes`: the largest frame this side accepts (the authorizer only expects small ones). */
export function pairingChannel(stream: Stream, maxFrameBytes: number = MAX_PAIRING_FRAME_BYTES): PairingChannel {
  const channel: FrameChannel = createFramedChannel(byteChannelOf(stream), { maxFrameBytes });
  const frames = channel.frames()[Symbol.asyncIterator]();
  return {
    send: (frame) => channel.send(frame),
    next: (signal, timeoutMs = PAIR_MESSAGE_TIMEOUT_MS) => nextFrame(channel, frames, signal, timeoutMs),
    close: () => channel.close(),
    abort: (reason) => channel.abort(reason),
  };
}

async function nextFrame(channel: FrameChannel, frames: AsyncIterator<Uint8Array>, signal: AbortSignal | undefined, timeoutMs: number): Promise<Uint8Array> {
  const deadline = AbortSignal.any([AbortSignal.timeout(timeoutMs), ...(signal ? [signal] : [])]);
  const onAbort = () => channel.abort(new PairingError('PROTOCOL', `no pairing message within ${timeoutMs} ms`));
  deadline.addEventListener('abort', onAbort, { once: true });
  try {
    const { value, done } = await frames.next();
    if (done) throw new PairingError('PROTOCOL', 'the other device closed the pairing stream without answering');
    return value;
  } catch (error) {
    if (error instanceof PairingError) throw error;
    if (signal?.aborted) throw new PairingError('CANCELLED', 'pairing was cancelled', { cause: error });
    if (deadline.aborted) throw new PairingError('PROTOCOL', `no pairing message within ${timeoutMs} ms`, { cause: error });
    throw new PairingError('PROTOCOL', `the pairing stream failed: ${(error as Error).message}`, { cause: error });
  } finally {
    deadline.removeEventListener('abort', onAbort);
  }
}
