/**
 * runSyncSession: one sync session between two databases over a FrameChannel. Both peers run the
 * same code. Each says hello, tells the other how far it has applied its log (HAVE), and then the
 * two directions run at once: the sender streams windows of its log, the receiver merges each
 * batch and stores the sender's cursor in one transaction and acknowledges it. With `live`, the
 * sender keeps pushing new writes after catch-up until the session is stopped.
 */
import { DEFAULT_BATCH_SIZE, DEFAULT_WINDOW, DRIFT_NOTICE_INTERVAL_MS, HELLO_TIMEOUT_MS, LINGER_TIMEOUT_MS, MAX_BATCH_SIZE, MAX_DEVICE_ID_BYTES, MAX_WINDOW, PEER_POSITION_SAVE_MS, PEER_REASON_GRACE_MS, PROTOCOL_MAJOR, PROTOCOL_MINOR, STOP_TIMEOUT_MS } from '../protocol/constants.ts';
import { StorageError } from '../../errors.ts';
import { connectionLost, FrameTimeoutError, ProtocolError, RemoteError } from '../protocol/errors.ts';
import { framedSize } from '../protocol/framing.ts';
import { encodeMessage } from '../protocol/messages.ts';
import type { FrameChannel } from './channel.ts';
import { Outbox } from './outbox.ts';
import { Sender } from './sender.ts';
import type { SyncStore } from './store.ts';
import { SessionReceiver, TransportFailure } from './receiver.ts';
import { Latch, Notifier, settleWithin, unrefTimer, untilAborted } from './signals.ts';
import { takeTurn, type DatabaseTurn, type SessionTurn } from './turn.ts';

export interface SyncSessionOptions {
  /** This database's device id (its PeerId string); sent in hello. */
  localDeviceId: string;
  /** The peer id the transport authenticated; a hello naming another device is refused. */
  expectedRemoteDeviceId?: string;
  /** Aborting stops the session: a live session finishes gracefully and resolves, a catch-up session rejects with the reason. */
  signal?: AbortSignal;
  /** Log rows exported per window. @default DEFAULT_BATCH_SIZE */
  batchSize?: number;
  /** After catch-up, keep pushing new local writes until aborted or the peer ends. @default false */
  live?: boolean;
  /** Batches the peer may have unacknowledged towards us. @default DEFAULT_WINDOW */
  window?: number;
  /** Live mode's fallback poll of the log. @default LIVE_POLL_INTERVAL_MS */
  pollIntervalMs?: number;
  onProgress?(progress: SyncProgress): void;
  /** Called once when both directions have caught up (the whole backlog is applied on both sides). */
  onCaughtUp?(result: SyncSessionResult): void;
  /**
   * The peer holds writes we sent back because their stamps are too far ahead of its clock (its
   * DRIFT message, minor 1): our clock or our stamps run ahead, or its clock runs behind.
   */
  onDriftReported?(report: { held: number; aheadMs: number }): void;
  /**
   * Where the store's connection is shared with code that holds transactions across awaits (a
   * browser's tabs): each batch is applied, and each window exported, only when it is free.
   * Omitted, the session uses the connection whenever it likes (Node).
   */
  turn?: DatabaseTurn;
  log?(message: string): void;
}

export interface SyncProgress {
  direction: 'send' | 'receive';
  /** Entries so far in this direction. */
  entries: number;
  /** Wire bytes so far in this direction (frames with their length prefixes). */
  bytes: number;
  /** Estimate of the entries this catch-up will have moved (an upper bound: superseded rows are skipped). */
  totalEntries?: number;
}

export interface SyncSessionResult {
  /** Entries we sent in batches. */
  sent: number;
  /** Entries we received and applied (merged, including those that changed nothing). */
  received: number;
  bytesSent: number;
  bytesReceived: number;
  remoteDeviceId: string;
}

/** The session over any store; `runSyncSession` (src/sync/store) runs it on an Ahenk database. */
export async function runSession(store: SyncStore, channel: FrameChannel, options: SyncSessionOptions): Promise<SyncSessionResult> {
  if (typeof options.localDeviceId !== 'string' || options.localDeviceId.length === 0 || new TextEncoder().encode(options.localDeviceId).length > MAX_DEVICE_ID_BYTES) {
    throw new TypeError('runSyncSession: localDeviceId must be a non-empty device id');
  }
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH_SIZE) throw new RangeError(`runSyncSession: batchSize must be an integer in 1..${MAX_BATCH_SIZE}`);
  const window = options.window ?? DEFAULT_WINDOW;
  if (!Number.isInteger(window) || window < 1 || window > MAX_WINDOW) throw new RangeError(`runSyncSession: window must be an integer in 1..${MAX_WINDOW}`);
  return new SyncSession(store, channel, options, batchSize, window).run();
}

/** How a failure is ended: tell the peer (our verdict), close (the peer's verdict), or reset (the transport is gone). */
type Ending = 'tell' | 'close' | 'reset';

class SyncSession {
  private readonly outbox: Outbox;
  private readonly sender: Sender;
  private readonly receiver: SessionReceiver;
  /** Aborted when the session ends, whichever way: cancels every wait and pending send. */
  private readonly ended = new AbortController();
  /** Aborted when a live session is asked to stop: the sender stops taking new windows. */
  private readonly stopRequested = new AbortController();
  /** Either of the two: made once, as AbortSignal.any() per wait would pile up listeners in a long live session. */
  private readonly stopOrEnd = AbortSignal.any([this.stopRequested.signal, this.ended.signal]);
  private readonly acks = new Notifier();
  private readonly failed = new Latch<never>();
  private failure: { error: unknown; ending: Ending } | undefined;
  private finished = false;
  private userStopped = false;
  private caughtUpSent = false;
  private caughtUpReported = false;
  private queuedBytes = 0;
  private sent = 0;
  /** The peer's position in our log as last told, as last saved, when saved, and a pending save. */
  private peerPosition: bigint | undefined;
  private savedPosition: bigint | undefined;
  private positionSavedAt = Number.NEGATIVE_INFINITY;
  private positionTimer: NodeJS.Timeout | undefined;
  /** A peer's word on its position is recorded only once it acknowledged a batch or caught up: a peer refused at once changes nothing here. */
  private positionTrusted = false;
  /** A save waits for its turn on a shared connection. */
  private positionWaiting = false;
  private driftNotice: { at: number; held: number; aheadMs: number } | undefined;
  /** The reader's run, once started: a failed send waits a moment for the reason it may bring. */
  private reading: Promise<void> | undefined;

  constructor(
    private readonly store: SyncStore,
    private readonly channel: FrameChannel,
    private readonly options: SyncSessionOptions,
    batchSize: number,
    private readonly window: number,
  ) {
    this.outbox = new Outbox(channel, this.ended.signal, (error) => this.sendFailed(error instanceof ProtocolError ? error : connectionLost(error)));
    const given = options.turn;
    const turn: SessionTurn | undefined = given === undefined ? undefined : { free: () => given.free(), wait: () => given.wait(this.ended.signal) };
    this.sender = new Sender(this.store, batchSize, {
      ...(turn === undefined ? {} : { turn }),
      localDeviceId: options.localDeviceId,
      remoteDeviceId: () => this.receiver.remoteId,
      push: (frame) => this.push(frame),
      stopping: () => this.stopRequested.signal.aborted || this.ended.signal.aborted,
      acked: () => this.acks.wait(this.ended.signal),
      onBatch: (entries, _frameBytes, remaining) => {
        this.sent += entries;
        this.progress({ direction: 'send', entries: this.sent, bytes: this.queuedBytes, totalEntries: this.sent + remaining });
      },
      onPeerPosition: (position) => {
        this.positionTrusted = true;
        this.notePeerPosition(position);
      },
    });
    const { turn: _shared, ...receiverOptions } = options;
    this.receiver = new SessionReceiver(this.store, this.sender, { ...receiverOptions, window, ...(turn === undefined ? {} : { turn }) }, {
      localDeviceId: options.localDeviceId,
      onHello: () => this.push(encodeMessage({ type: 'have', cursor: this.store.loadCursor(this.receiver.remoteId) })),
      onAck: () => this.acks.notify(),
      ack: (batch) => this.outbox.ack(batch),
      onApplied: (appended) => {
        if (appended) this.store.poke();
        this.progress({ direction: 'receive', entries: this.receiver.received, bytes: this.receiver.bytesReceived, totalEntries: this.receiver.received + this.receiver.remoteRemaining });
      },
      onCaughtUp: () => this.reportCaughtUp(),
      onHeldForDrift: (drift) => this.noticeDrift(drift),
      onDriftReport: (report) => {
        try {
          this.options.onDriftReported?.(report);
        } catch {
          // An observer.
        }
      },
      onDone: () => {
        // The peer is leaving: a live session has nobody to push to any more.
        if (options.live === true && !this.stopRequested.signal.aborted) this.stopRequested.abort();
      },
    });
  }

  async run(): Promise<SyncSessionResult> {
    const userSignal = this.options.signal;
    const onUserAbort = (): void => this.onUserAbort();
    userSignal?.addEventListener('abort', onUserAbort, { once: true });
    const helloTimer = setTimeout(() => {
      if (!this.receiver.helloReceived) this.fail(new ProtocolError('PROTOCOL_TIMEOUT', `no hello within ${HELLO_TIMEOUT_MS} ms`), 'tell');
    }, HELLO_TIMEOUT_MS);
    let stopTimer: NodeJS.Timeout | undefined;
    this.stopRequested.signal.addEventListener('abort', () => {
      stopTimer = setTimeout(() => this.fail(new ProtocolError('PROTOCOL_TIMEOUT', `peer did not finish within ${STOP_TIMEOUT_MS} ms of stopping`), 'reset'), STOP_TIMEOUT_MS);
    });
    const reading = this.receiver.read(this.channel.frames(), () => this.failure !== undefined || this.finished);
    this.reading = reading;
    // A frame we refuse, or a local failure (the database), is told to the peer; a broken transport is reset.
    reading.catch((error: unknown) => {
      if (!(error instanceof TransportFailure)) return this.fail(error, 'tell');
      if (error.cause instanceof ProtocolError) return this.fail(error.cause, 'tell');
      this.fail(connectionLost(error.cause), 'reset');
    });
    const sending = this.sendLoop();
    sending.catch((error: unknown) => this.fail(error, 'tell'));
    try {
      this.push(encodeMessage({ type: 'hello', major: PROTOCOL_MAJOR, minor: PROTOCOL_MINOR, schemaVersion: this.store.schemaVersion(), deviceId: this.options.localDeviceId, live: this.options.live === true, window: this.window }));
      if (userSignal?.aborted) this.onUserAbort();
      await Promise.race([Promise.all([sending, this.receiver.done.promise]), this.failed.promise]);
      await Promise.race([this.outbox.flushed(), this.failed.promise]);
      this.finished = true;
      this.log(`session with ${this.receiver.remoteId} complete: sent ${this.sent}, received ${this.receiver.received} entries`);
      if (!(await settleWithin(this.channel.close(), LINGER_TIMEOUT_MS)) || !(await settleWithin(reading, LINGER_TIMEOUT_MS))) {
        this.channel.abort(new Error('peer did not close the stream'));
      }
      return this.snapshot();
    } catch (thrown) {
      const { error, ending } = this.failure ?? { error: thrown, ending: 'reset' as Ending };
      this.finished = true;
      const stoppedByTimeout = this.userStopped && error instanceof ProtocolError && error.code === 'PROTOCOL_TIMEOUT';
      this.ended.abort(error);
      await this.end(error, ending, reading);
      if (stoppedByTimeout) return this.snapshot();
      throw error;
    } finally {
      this.finished = true;
      clearTimeout(helloTimer);
      clearTimeout(stopTimer);
      this.savePeerPosition();
      userSignal?.removeEventListener('abort', onUserAbort);
      if (!this.ended.signal.aborted) this.ended.abort(new Error('session ended'));
    }
  }

  private async sendLoop(): Promise<void> {
    const cursor = await this.receiver.have.wait(this.ended.signal);
    let pos = Sender.parse(cursor);
    this.notePeerPosition(pos);
    this.sender.window = this.receiver.remoteWindow;
    pos = await this.sender.drain(pos);
    if (!this.stopRequested.signal.aborted) {
      this.push(encodeMessage({ type: 'caught-up' }));
      this.caughtUpSent = true;
      this.reportCaughtUp();
      if (this.options.live === true) {
        while (!this.stopRequested.signal.aborted) {
          try {
            await this.store.waitBeyond(pos, this.stopOrEnd);
          } catch (error) {
            if (this.stopRequested.signal.aborted && !this.ended.signal.aborted) break;
            throw error;
          }
          pos = await this.sender.drain(pos);
        }
      } else {
        // What the peer's catch-up made us merge is echo (skipped); anything else new goes out now.
        const peerQuiet = Promise.race([this.receiver.caughtUp.promise, this.receiver.done.promise]);
        await untilAborted(peerQuiet, this.stopOrEnd).catch(() => undefined);
        this.ended.signal.throwIfAborted();
        pos = await this.sender.drain(pos);
      }
    }
    this.push(encodeMessage({ type: 'done' }));
    await this.sender.allAcked();
  }

  /** Saves the peer's position at most every PEER_POSITION_SAVE_MS (a write each), the last one once the session ends. */
  private notePeerPosition(position: bigint): void {
    if (this.store.savePeerPosition === undefined) return;
    this.peerPosition = position;
    const wait = this.positionSavedAt + PEER_POSITION_SAVE_MS - performance.now();
    if (wait <= 0) return this.savePeerPosition();
    if (this.positionTimer === undefined && !this.finished) {
      this.positionTimer = setTimeout(() => this.savePeerPosition(), wait);
      unrefTimer(this.positionTimer);
    }
  }

  private savePeerPosition(): void {
    clearTimeout(this.positionTimer);
    this.positionTimer = undefined;
    const position = this.peerPosition;
    if (!this.positionTrusted || position === undefined || position === this.savedPosition || this.receiver.remoteId === '') return;
    const turn = this.options.turn;
    if (turn !== undefined && !turn.free()) {
      // Written inside a tab's open transaction it would go with its ROLLBACK, while we took it as
      // saved: it is saved in the next turn instead (the latest position then), or at a later save.
      if (this.positionWaiting) return;
      this.positionWaiting = true;
      takeTurn(turn, AbortSignal.timeout(LINGER_TIMEOUT_MS)).then(
        () => {
          this.positionWaiting = false;
          this.savePeerPosition();
        },
        () => (this.positionWaiting = false),
      );
      return;
    }
    this.positionSavedAt = performance.now();
    try {
      this.store.savePeerPosition?.(this.receiver.remoteId, position);
      this.savedPosition = position;
    } catch (error) {
      // A busy database: status shows an older position (more waiting) until the next save.
      this.log(`could not record the peer's position: ${(error as Error).message}`);
    }
  }

  private onUserAbort(): void {
    if (this.finished) return;
    const reason: unknown = this.options.signal?.reason;
    if (this.options.live !== true || !this.receiver.helloReceived) return this.fail(reason, 'reset');
    this.userStopped = true;
    this.log('stopping live session');
    if (!this.stopRequested.signal.aborted) this.stopRequested.abort();
  }

  /** Tells a peer that knows DRIFT (minor 1) that we hold its writes back, at most once per DRIFT_NOTICE_INTERVAL_MS. */
  private noticeDrift(drift: { held: number; aheadMs: number }): void {
    const notice = (this.driftNotice ??= { at: Number.NEGATIVE_INFINITY, held: 0, aheadMs: 0 });
    notice.held += drift.held;
    notice.aheadMs = Math.max(notice.aheadMs, drift.aheadMs);
    if (this.receiver.remoteMinor < 1 || performance.now() - notice.at < DRIFT_NOTICE_INTERVAL_MS) return;
    this.push(encodeMessage({ type: 'drift', held: notice.held, aheadMs: notice.aheadMs }));
    this.driftNotice = { at: performance.now(), held: 0, aheadMs: 0 };
  }

  private push(frame: Uint8Array): void {
    this.queuedBytes += framedSize(frame.byteLength);
    this.outbox.push(frame).catch(() => undefined);
  }

  /**
   * A send failed: the stream broke, or the peer closed it after saying why in an ERROR frame that
   * the reader has yet to reach. The peer's reason wins when the reader gets to it in time.
   */
  private sendFailed(error: ProtocolError): void {
    if (this.failure !== undefined || this.finished) return;
    const reading = this.reading;
    if (reading === undefined) return this.fail(error, 'reset');
    void settleWithin(reading, PEER_REASON_GRACE_MS).then(() => this.fail(error, 'reset'));
  }

  private fail(error: unknown, ending: Ending): void {
    if (this.failure !== undefined || this.finished) return;
    this.failure = { error, ending: error instanceof RemoteError ? 'close' : ending };
    this.failed.reject(error);
  }

  private async end(error: unknown, ending: Ending, reading: Promise<void>): Promise<void> {
    const reason = error instanceof Error ? error : new Error(String(error));
    if (ending === 'reset') {
      if (!(this.userStopped && error instanceof ProtocolError)) this.log(`session ${this.receiver.remoteId ? `with ${this.receiver.remoteId} ` : ''}failed: ${reason.message}`);
      this.channel.abort(reason);
      return;
    }
    if (ending === 'tell') {
      const code = error instanceof ProtocolError ? error.code : error instanceof StorageError ? 'PROTOCOL_STORAGE' : 'PROTOCOL_INTERNAL';
      this.log(`refusing peer${this.receiver.remoteId ? ` ${this.receiver.remoteId}` : ''}: ${code}: ${reason.message}`);
      this.outbox.clear(reason);
      // The peer learns what kind of trouble, not where this device keeps its files.
      const told = error instanceof StorageError ? `this device cannot write its database now (${error.code}); try again later` : reason.message;
      const frame = encodeMessage({ type: 'error', code, message: told });
      await settleWithin(this.channel.send(frame, AbortSignal.timeout(LINGER_TIMEOUT_MS)), LINGER_TIMEOUT_MS);
    } else {
      this.log(reason.message);
    }
    // Let the peer read our last frames and close its side, then make sure the stream is gone. A
    // peer that stalled inside a frame is still sending it: its stream is reset once told.
    const closed = await settleWithin(this.channel.close(), LINGER_TIMEOUT_MS);
    if (!closed || error instanceof FrameTimeoutError || !(await settleWithin(reading, LINGER_TIMEOUT_MS))) this.channel.abort(reason);
  }

  private reportCaughtUp(): void {
    if (this.caughtUpReported || !this.caughtUpSent || !this.receiver.caughtUp.settled) return;
    this.caughtUpReported = true;
    this.positionTrusted = true;
    this.savePeerPosition();
    this.log(`caught up with ${this.receiver.remoteId}`);
    this.safely(() => this.options.onCaughtUp?.(this.snapshot()));
  }

  private progress(progress: SyncProgress): void {
    this.safely(() => this.options.onProgress?.(progress));
  }

  private snapshot(): SyncSessionResult {
    return {
      sent: this.sent,
      received: this.receiver.received,
      bytesSent: this.outbox.bytesSent,
      bytesReceived: this.receiver.bytesReceived,
      remoteDeviceId: this.receiver.remoteId,
    };
  }

  private log(message: string): void {
    this.safely(() => this.options.log?.(message));
  }

  /** A throwing callback of the app must not break the protocol. */
  private safely(callback: () => void): void {
    try {
      callback();
    } catch {
      // Ignored on purpose: progress and log callbacks are observers.
    }
  }
}
