/**
 * One sync session per authorized peer, over /ahenk/sync. When both peers open a stream at once,
 * the stream opened by the lower PeerId wins on both sides, so exactly one session survives.
 * Authorization is checked before a stream is opened and again when one arrives; a refused
 * stream is reset before a byte is read or written.
 */
import './polyfill.ts';
import type { Connection, Libp2p, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { AhenkError, StorageError } from '../../errors.ts';
import type { SqliteConnection } from '../../sqlite/index.ts';
import type { DatabaseHandle } from '../../sqlite/index.ts';
import { isRevokedPeer } from '../../auth/devices.ts';
import { DEFAULT_BATCH_SIZE, LINGER_TIMEOUT_MS, SYNC_PROTOCOL } from '../protocol/constants.ts';
import { connectionLost, ProtocolError, RemoteError } from '../protocol/errors.ts';
import { encodeMessage } from '../protocol/messages.ts';
import { createFramedChannel, type FrameChannel, type SyncSessionResult } from '../session/index.ts';
import type { DatabaseTurn } from '../session/turn.ts';
import { runSyncSession, type BatchDrift } from '../store/index.ts';
import { settleWithin, unrefTimer } from '../session/signals.ts';
import { byteChannelOf } from './byte-stream.ts';
import type { ResolvedConfig } from './config.ts';
import { DIAL_TIMEOUT_MS, LIMITED_BYTES_PER_ENTRY_BUDGET, LIMITED_WINDOW, TURN_WAIT_NOTICE_MS } from './constants.ts';
import { DatabaseBusyError, NodeStoppedError, UnauthorizedPeerError } from './errors.ts';
import type { SyncCompleteEvent, SyncNodeEmitter } from './events.ts';
import { recordPeerSync } from './peer-store.ts';

export interface SessionHost {
  db: DatabaseHandle;
  raw: SqliteConnection;
  localPeerId: string;
  libp2p: Libp2p;
  config: ResolvedConfig;
  events: SyncNodeEmitter;
  isAuthorized(peerId: string): boolean;
  /**
   * Where the connection is shared with code that holds transactions across awaits (the browser's
   * tabs, src/browser/leader.ts): sessions apply and export only in their turn. None on Node.
   */
  turn?: DatabaseTurn;
  /** The window of batches this side grants a sender (a page grants fewer: see WEB_RECEIVE_WINDOW). @default DEFAULT_WINDOW */
  window?: number;
  /**
   * Called once a session is over; `error` is set when it failed rather than ended or was stopped,
   * `progressed` when it moved entries before it ended (its retries start again from the first delay).
   */
  sessionEnded(peerId: string, error: Error | undefined, progressed: boolean): void;
  /** The peer ended a session saying our key is revoked on its device list. */
  revokedBy(peerId: string): void;
  /** A batch from `peerId` held writes back for their stamps (called after it committed). */
  clockDrift(peerId: string, drift: BatchDrift): void;
  /** Both directions of a session caught up. */
  caughtUp(peerId: string): void;
  /** `peerId` says it holds writes of ours back for their stamps. */
  driftReported(peerId: string, report: { held: number; aheadMs: number }): void;
}

/**
 * What a refused peer is told, in one ERROR frame before the stream closes: whether its key is
 * revoked here or simply not listed, and nothing else (no device, account or time).
 */
const REFUSALS = {
  PROTOCOL_REVOKED: 'this device was revoked from the device list; reset its identity and pair it again',
  PROTOCOL_REFUSED: 'refused: not on the device list',
} as const;

interface ActiveSession {
  peerId: string;
  initiator: 'local' | 'remote';
  /** Aborting asks the session to stop: a live one says DONE and finishes gracefully. */
  controller: AbortController;
  channel?: FrameChannel;
  started: number;
  /** The session runs over a limited (relayed) connection: moved to a direct one when one opens. */
  limited: boolean;
  /** Bytes the limited connection may still carry, when its relay set a data limit. */
  dataLimit: bigint | undefined;
  /** Entries moved in either direction: a circuit cut after progress is not a failure to back off from. */
  progressed: boolean;
  /** Settles with the catch-up result, or undefined when the session ended without catching up. */
  caughtUp: Deferred<SyncCompleteEvent | undefined>;
  done: Promise<void>;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
}

/** A newer duplicate replaced this session: not a failure to report. */
class SessionSuperseded extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SessionSuperseded';
  }
}

export class SyncSessions {
  readonly #host: SessionHost;
  readonly #active = new Map<string, ActiveSession>();

  constructor(host: SessionHost) {
    this.#host = host;
  }

  has(peerId: string): boolean {
    return this.#active.has(peerId);
  }

  peers(): string[] {
    return [...this.#active.keys()];
  }

  /** The running session's catch-up, if a session with `peerId` runs. */
  caughtUp(peerId: string): Promise<SyncCompleteEvent | undefined> | undefined {
    return this.#active.get(peerId)?.caughtUp.promise;
  }

  /** A session with `peerId` runs over a limited (relayed) connection. */
  isLimited(peerId: string): boolean {
    return this.#active.get(peerId)?.limited === true;
  }

  /** This side opens the stream when its id is the lower one; the other waits for it. */
  isOpener(peerId: string): boolean {
    return this.#host.localPeerId < peerId;
  }

  /** Opens /ahenk/sync to a connected peer, unless a session runs; resolves with its catch-up. */
  open(peerId: string, stopSignal: AbortSignal): Promise<SyncCompleteEvent | undefined> {
    const existing = this.#active.get(peerId);
    if (existing !== undefined && existing.controller.signal.aborted) {
      // That session is winding down (its connection closed, or it is moving to another one): a
      // new connection that opens meanwhile must still get a session, once the old one is gone.
      return existing.done.then(() => (stopSignal.aborted ? undefined : this.open(peerId, stopSignal)));
    }
    if (existing !== undefined) return existing.caughtUp.promise;
    const session = this.#register(peerId, 'local');
    this.#track(
      session,
      (async () => {
        if (!this.#host.isAuthorized(peerId)) throw new UnauthorizedPeerError(peerId);
        const signal = AbortSignal.any([session.controller.signal, stopSignal, AbortSignal.timeout(DIAL_TIMEOUT_MS)]);
        const stream = await this.#openStream(peerId, signal);
        await this.#run(session, stream, stopSignal);
      })(),
    );
    return session.caughtUp.promise;
  }

  /** The /ahenk/sync stream handler. */
  accept(stream: Stream, connection: Connection, stopSignal: AbortSignal): void {
    const peerId = connection.remotePeer.toString();
    if (stopSignal.aborted) {
      stream.abort(new NodeStoppedError());
      return;
    }
    if (!this.#host.isAuthorized(peerId)) {
      const error = new UnauthorizedPeerError(peerId);
      const revoked = isRevokedPeer(this.#host.raw, peerId);
      this.#host.config.log(`refused /ahenk/sync from ${peerId}: ${revoked ? 'its key is revoked' : 'not on the device list'}`);
      void this.refuse(stream, revoked ? 'PROTOCOL_REVOKED' : 'PROTOCOL_REFUSED');
      this.#host.events.emit('error', { error, peerId });
      return;
    }
    const existing = this.#active.get(peerId);
    if (existing !== undefined) {
      if (existing.initiator === 'local' && this.isOpener(peerId)) {
        this.#host.config.log(`kept our own session with ${peerId}; reset its duplicate stream`);
        stream.abort(new SessionSuperseded('duplicate /ahenk/sync stream: the lower peer id opens the session'));
        return;
      }
      const reason = new SessionSuperseded('replaced by a newer /ahenk/sync stream from the same peer');
      existing.controller.abort(reason);
      existing.channel?.abort(reason);
    }
    const session = this.#register(peerId, 'remote');
    session.limited = connection.limits !== undefined;
    session.dataLimit = connection.limits?.bytes;
    this.#track(session, this.#run(session, stream, stopSignal));
  }

  /**
   * Tells a peer we will not sync with it, in one ERROR frame (no hello, nothing of ours), then
   * closes the stream; a peer that does not read it within LINGER_TIMEOUT_MS is reset.
   */
  async refuse(stream: Stream, code: keyof typeof REFUSALS): Promise<void> {
    const channel = createFramedChannel(byteChannelOf(stream));
    const reason = new Error(REFUSALS[code]);
    const sent = channel.send(encodeMessage({ type: 'error', code, message: REFUSALS[code] }), AbortSignal.timeout(LINGER_TIMEOUT_MS));
    if (!(await settleWithin(sent, LINGER_TIMEOUT_MS)) || !(await settleWithin(channel.close(), LINGER_TIMEOUT_MS))) channel.abort(reason);
    // Whatever the peer sent meanwhile (its hello) is not read; the stream goes once it has our frame.
    unrefTimer(setTimeout(() => channel.abort(reason), LINGER_TIMEOUT_MS));
  }

  /**
   * Ends the session with `peerId`. Gracefully by default (a live session says DONE); `hard`
   * resets the stream at once, for a peer that must not receive another byte.
   */
  async abort(peerId: string, reason: Error, hard = false): Promise<void> {
    const session = this.#active.get(peerId);
    if (session === undefined) return;
    session.controller.abort(reason);
    if (hard) session.channel?.abort(reason);
    await session.done;
  }

  /** Asks every session to stop gracefully and waits for them (each bounds its own goodbye). */
  async stopAll(reason: Error): Promise<void> {
    const sessions = [...this.#active.values()];
    for (const session of sessions) session.controller.abort(reason);
    await Promise.allSettled(sessions.map((s) => s.done));
  }

  #register(peerId: string, initiator: 'local' | 'remote'): ActiveSession {
    const session: ActiveSession = {
      peerId,
      initiator,
      controller: new AbortController(),
      started: performance.now(),
      limited: false,
      dataLimit: undefined,
      progressed: false,
      caughtUp: Promise.withResolvers<SyncCompleteEvent | undefined>(),
      done: Promise.resolve(),
    };
    this.#active.set(peerId, session);
    return session;
  }

  /**
   * A stream on the peer's best open connection: a direct one when there is one, else a relayed
   * one (sync runs over relays too, resuming from its cursor when a circuit's limit cuts it).
   */
  async #openStream(peerId: string, signal: AbortSignal): Promise<Stream> {
    const { libp2p } = this.#host;
    const open = libp2p.getConnections(peerIdFromString(peerId)).filter((c) => c.status === 'open');
    const connection = open.find((c) => c.limits === undefined) ?? open[0];
    if (connection === undefined) return libp2p.dialProtocol(peerIdFromString(peerId), SYNC_PROTOCOL, { signal, runOnLimitedConnection: true });
    const stream = await connection.newStream(SYNC_PROTOCOL, { signal, runOnLimitedConnection: true }).catch((error: unknown) => {
      // The connection died under the new stream (a WebRTC connection the other side gave up
      // while setting it up, a circuit the relay closed): the session is opened again on another.
      // A peer that does not speak /ahenk/sync, or our own timeout or stop, is what it says.
      if (signal.aborted || (error instanceof Error && error.name === 'UnsupportedProtocolError')) throw error;
      throw connectionLost(error);
    });
    const session = this.#active.get(peerId);
    if (session !== undefined) {
      session.limited = connection.limits !== undefined;
      session.dataLimit = connection.limits?.bytes;
    }
    return stream;
  }

  async #run(session: ActiveSession, stream: Stream, stopSignal: AbortSignal): Promise<void> {
    const { peerId, controller } = session;
    const host = this.#host;
    const channel = createFramedChannel(byteChannelOf(stream));
    session.channel = channel;
    host.events.emit('sync:start', { peerId, initiator: session.initiator });
    host.config.log(`sync with ${peerId} started (${session.initiator === 'local' ? 'we opened the stream' : 'they opened the stream'}${session.limited ? ', over a relay' : ''})`);
    const result = await runSyncSession(host.db, channel, {
      localDeviceId: host.localPeerId,
      expectedRemoteDeviceId: peerId,
      signal: AbortSignal.any([controller.signal, stopSignal]),
      live: host.config.live,
      ...sessionSizing(host.config.batchSize, session.dataLimit, host.window),
      onProgress: (progress) => {
        if (progress.entries > 0) session.progressed = true;
        host.events.emit('sync:progress', { peerId, ...progress });
      },
      onCaughtUp: (snapshot) => this.#caughtUp(session, snapshot),
      log: (message) => host.config.log(`[${peerId}] ${message}`),
      now: host.config.now,
      maxDriftMs: host.config.maxDriftMs,
      onClockDrift: (drift) => host.clockDrift(peerId, drift),
      onDriftReported: (report) => host.driftReported(peerId, report),
      ...(host.turn === undefined ? {} : { turn: this.#noticed(host.turn, peerId) }),
    });
    // A session stopped before its catch-up finished has nothing to report as complete.
    session.caughtUp.resolve(undefined);
    recordPeerSync(host.raw, peerId, result);
    host.config.log(`sync with ${peerId} ended: sent ${result.sent}, received ${result.received} entries`);
  }

  /**
   * `turn` for one session: once its waits (the receiver's and the sender's, which overlap) have
   * lasted TURN_WAIT_NOTICE_MS, it is logged and reported (an `error` event), once per stretch.
   */
  #noticed(turn: DatabaseTurn, peerId: string): DatabaseTurn {
    const host = this.#host;
    let waiting = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    return {
      free: () => turn.free(),
      wait: async (signal) => {
        if (waiting++ === 0) {
          const started = performance.now();
          timer = unrefTimer(
            setTimeout(() => {
              const error = new DatabaseBusyError(performance.now() - started);
              host.config.log(`[${peerId}] ${error.message}`);
              host.events.emit('error', { error, peerId });
            }, TURN_WAIT_NOTICE_MS),
          );
        }
        try {
          await turn.wait(signal);
        } finally {
          if (--waiting === 0) clearTimeout(timer);
        }
      },
    };
  }

  #caughtUp(session: ActiveSession, snapshot: SyncSessionResult): void {
    recordPeerSync(this.#host.raw, session.peerId, snapshot);
    const complete: SyncCompleteEvent = {
      peerId: session.peerId,
      sent: snapshot.sent,
      received: snapshot.received,
      bytesSent: snapshot.bytesSent,
      bytesReceived: snapshot.bytesReceived,
      durationMs: performance.now() - session.started,
    };
    session.caughtUp.resolve(complete);
    this.#host.events.emit('sync:complete', complete);
    this.#host.caughtUp(session.peerId);
  }

  #track(session: ActiveSession, work: Promise<void>): void {
    session.done = work.then(
      () => this.#ended(session, undefined),
      (cause: unknown) => {
        const error = cause instanceof Error ? cause : new Error(String(cause));
        session.channel?.abort(error);
        if (error instanceof RemoteError && error.remoteCode === 'PROTOCOL_REVOKED') {
          // Not retried: the node decides, from its own device list, whether to believe it.
          this.#ended(session, undefined);
          this.#host.revokedBy(session.peerId);
          return;
        }
        const expected = session.controller.signal.aborted || error instanceof SessionSuperseded || error instanceof NodeStoppedError;
        if (!expected && isConnectionLost(error)) {
          // The connection went (or the peer reset a stream it was done with): not an error of
          // either side. The session is opened again while the peer stays connected; peer:disconnect
          // says when it is not.
          this.#host.config.log(`sync with ${session.peerId} cut: ${error.message}`);
        } else if (!expected) {
          this.#host.config.log(`sync with ${session.peerId} failed${error instanceof AhenkError ? ` (${error.code})` : ''}: ${error.message}`);
          this.#host.events.emit('error', { error, peerId: session.peerId });
        }
        // A database that cannot be written (here or on the peer) fails every session alike until
        // it can: the batches its sender pushed are no progress, and the retries wait longer each time.
        if (isStorageFailure(error)) session.progressed = false;
        this.#ended(session, expected ? undefined : error);
      },
    );
  }

  #ended(session: ActiveSession, error: Error | undefined): void {
    session.caughtUp.resolve(undefined);
    if (this.#active.get(session.peerId) === session) this.#active.delete(session.peerId);
    this.#host.sessionEnded(session.peerId, error, session.progressed);
  }
}

/**
 * Batch size and window for a session. Over a circuit with a data limit (a foreign relay grants
 * 128 KiB per circuit), batches shrink so that several commit before the limit cuts the circuit:
 * each committed batch moves the cursor, so the next circuit resumes after it instead of sending
 * a too-large batch again and again.
 */
function sessionSizing(batchSize: number | undefined, dataLimit: bigint | undefined, window: number | undefined): { batchSize?: number; window?: number } {
  const wanted = batchSize ?? DEFAULT_BATCH_SIZE;
  // A generous limit (an Ahenk relay's 1 GiB) changes nothing: the usual batches and window.
  const fitting = dataLimit === undefined ? Infinity : Number(dataLimit / LIMITED_BYTES_PER_ENTRY_BUDGET);
  if (fitting >= wanted) return { ...(batchSize === undefined ? {} : { batchSize }), ...(window === undefined ? {} : { window }) };
  return { batchSize: Math.max(1, fitting), window: Math.min(LIMITED_WINDOW, window ?? LIMITED_WINDOW) };
}

/** This side's database could not be written (StorageError), or the peer said so of its own (PROTOCOL_STORAGE). */
export function isStorageFailure(error: Error | undefined): boolean {
  return error instanceof StorageError || (error instanceof RemoteError && error.remoteCode === 'PROTOCOL_STORAGE');
}

function isConnectionLost(error: Error): boolean {
  return error instanceof ProtocolError && error.code === 'PROTOCOL_CONNECTION_LOST';
}
