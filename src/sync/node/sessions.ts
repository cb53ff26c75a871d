/**
 * One sync session per authorized peer, over /ahenk/sync. When both peers open a stream at once,
 * the stream opened by the lower PeerId wins on both sides, so exactly one session survives.
 * Authorization is checked before a stream is opened and again when one arrives; a refused
 * stream is reset before a byte is read or written.
 */
import './polyfill.ts';
import type { Connection, Libp2p, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import type { SqliteConnection } from '../../sqlite/index.ts';
import type { DatabaseHandle } from '../../sqlite/index.ts';
import { SYNC_PROTOCOL } from '../protocol/index.ts';
import { createFramedChannel, type FrameChannel, type SyncSessionResult } from '../session/index.ts';
import { runSyncSession, type BatchDrift } from '../store/index.ts';
import { byteChannelOf } from './byte-stream.ts';
import type { ResolvedConfig } from './config.ts';
import { DIAL_TIMEOUT_MS } from './constants.ts';
import { NodeStoppedError, UnauthorizedPeerError } from './errors.ts';
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
  /** Called once a session is over; `error` is set when it failed rather than ended or was stopped. */
  sessionEnded(peerId: string, error: Error | undefined): void;
  /** A batch from `peerId` held writes back for their stamps (called after it committed). */
  clockDrift(peerId: string, drift: BatchDrift): void;
  /** Both directions of a session caught up. */
  caughtUp(peerId: string): void;
  /** `peerId` says it holds writes of ours back for their stamps. */
  driftReported(peerId: string, report: { held: number; aheadMs: number }): void;
}

interface ActiveSession {
  peerId: string;
  initiator: 'local' | 'remote';
  /** Aborting asks the session to stop: a live one says DONE and finishes gracefully. */
  controller: AbortController;
  channel?: FrameChannel;
  started: number;
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

  /** This side opens the stream when its id is the lower one; the other waits for it. */
  isOpener(peerId: string): boolean {
    return this.#host.localPeerId < peerId;
  }

  /** Opens /ahenk/sync to a connected peer, unless a session runs; resolves with its catch-up. */
  open(peerId: string, stopSignal: AbortSignal): Promise<SyncCompleteEvent | undefined> {
    const existing = this.#active.get(peerId);
    if (existing !== undefined) return existing.caughtUp.promise;
    const session = this.#register(peerId, 'local');
    this.#track(
      session,
      (async () => {
        if (!this.#host.isAuthorized(peerId)) throw new UnauthorizedPeerError(peerId);
        const signal = AbortSignal.any([session.controller.signal, stopSignal, AbortSignal.timeout(DIAL_TIMEOUT_MS)]);
        const stream = await this.#host.libp2p.dialProtocol(peerIdFromString(peerId), SYNC_PROTOCOL, { signal });
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
      this.#host.config.log(`refused /ahenk/sync from ${peerId}: not on the device list`);
      stream.abort(error);
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
    this.#track(session, this.#run(session, stream, stopSignal));
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
      caughtUp: Promise.withResolvers<SyncCompleteEvent | undefined>(),
      done: Promise.resolve(),
    };
    this.#active.set(peerId, session);
    return session;
  }

  async #run(session: ActiveSession, stream: Stream, stopSignal: AbortSignal): Promise<void> {
    const { peerId, controller } = session;
    const host = this.#host;
    const channel = createFramedChannel(byteChannelOf(stream));
    session.channel = channel;
    host.events.emit('sync:start', { peerId, initiator: session.initiator });
    host.config.log(`sync with ${peerId} started (${session.initiator === 'local' ? 'we opened the stream' : 'they opened the stream'})`);
    const result = await runSyncSession(host.db, channel, {
      localDeviceId: host.localPeerId,
      expectedRemoteDeviceId: peerId,
      signal: AbortSignal.any([controller.signal, stopSignal]),
      live: host.config.live,
      ...(host.config.batchSize === undefined ? {} : { batchSize: host.config.batchSize }),
      onProgress: (progress) => host.events.emit('sync:progress', { peerId, ...progress }),
      onCaughtUp: (snapshot) => this.#caughtUp(session, snapshot),
      log: (message) => host.config.log(`[${peerId}] ${message}`),
      now: host.config.now,
      maxDriftMs: host.config.maxDriftMs,
      onClockDrift: (drift) => host.clockDrift(peerId, drift),
      onDriftReported: (report) => host.driftReported(peerId, report),
    });
    // A session stopped before its catch-up finished has nothing to report as complete.
    session.caughtUp.resolve(undefined);
    recordPeerSync(host.raw, peerId);
    host.config.log(`sync with ${peerId} ended: sent ${result.sent}, received ${result.received} entries`);
  }

  #caughtUp(session: ActiveSession, snapshot: SyncSessionResult): void {
    recordPeerSync(this.#host.raw, session.peerId);
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
        const expected = session.controller.signal.aborted || error instanceof SessionSuperseded || error instanceof NodeStoppedError;
        if (!expected) {
          this.#host.config.log(`sync with ${session.peerId} failed: ${error.message}`);
          this.#host.events.emit('error', { error, peerId: session.peerId });
        }
        this.#ended(session, expected ? undefined : error);
      },
    );
  }

  #ended(session: ActiveSession, error: Error | undefined): void {
    session.caughtUp.resolve(undefined);
    if (this.#active.get(session.peerId) === session) this.#active.delete(session.peerId);
    this.#host.sessionEnded(session.peerId, error);
  }
}
