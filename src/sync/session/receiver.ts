/**
 * The reading half of a session: decodes every frame, checks it is allowed at this point of the
 * protocol, and applies batches. It never waits for the transport to send (acks go through the
 * outbox), so it keeps draining the peer even when our own sending side is blocked.
 *
 * Batches that arrive back to back are applied together, in one transaction (group commit): a
 * commit writes every page it changed again, and a thousand rows with random keys change pages all
 * over a table and its indexes, so one commit per batch wrote a large table many times over. A
 * batch waits only while the next frame is already there and less than half the window we granted
 * is queued, and it is acknowledged once its group has committed.
 */
import { APPLY_PAUSE_MAX_MS, APPLY_PAUSE_SHARE, APPLY_YIELD_MS, GROUP_COMMIT_MS, MAX_FRAME_BYTES, PROTOCOL_MINOR } from '../protocol/constants.ts';
import { FrameTooLargeError, ProtocolError, RemoteError } from '../protocol/errors.ts';
import { framedSize } from '../protocol/framing.ts';
import { decodeMessage, type BatchMessage, type HelloMessage, type SyncMessage } from '../protocol/messages.ts';
import type { Sender } from './sender.ts';
import { afterPending, Latch } from './signals.ts';
import type { AppliedBatch, AppliedGroup, SyncStore } from './store.ts';
import type { SessionTurn } from './turn.ts';

export interface ReceiverHooks {
  localDeviceId: string;
  /** Hello accepted: time to tell the peer what we hold of its log. */
  onHello(): void;
  onAck(): void;
  ack(batch: number): void;
  /** A batch is applied and committed; `appended` when it added rows to our log. */
  onApplied(appended: boolean): void;
  onCaughtUp(): void;
  onDone(): void;
  /** A batch we applied held writes back for their stamps: the peer may be told (DRIFT). */
  onHeldForDrift(drift: { held: number; aheadMs: number }): void;
  /** The peer told us it holds our writes back for their stamps. */
  onDriftReport(report: { held: number; aheadMs: number }): void;
}

export interface ReceiverOptions {
  expectedRemoteDeviceId?: string;
  /** The window we grant the peer in our hello: a group never waits for more than half of it. */
  window: number;
  /** Where the connection is shared (a browser's tabs): a group is applied only when it is free. */
  turn?: SessionTurn;
  log?(message: string): void;
}

export class SessionReceiver {
  private remote: HelloMessage | undefined;
  private expectedBatch = 1;
  /** Batches received and not applied yet, in order. */
  private readonly queued: BatchMessage[] = [];
  /** The peer's cursor into our log, from its HAVE. */
  readonly have = new Latch<string>();
  readonly caughtUp = new Latch<void>();
  readonly done = new Latch<void>();
  received = 0;
  bytesReceived = 0;
  remoteRemaining = 0;
  /** When the event loop last had a turn between groups, and how long the last group took (see applyGroup). */
  private lastYield = performance.now();
  private lastGroupMs = 0;

  constructor(
    private readonly store: SyncStore,
    private readonly sender: Sender,
    private readonly options: ReceiverOptions,
    private readonly hooks: ReceiverHooks,
  ) {}

  get helloReceived(): boolean {
    return this.remote !== undefined;
  }

  get remoteId(): string {
    return this.remote?.deviceId ?? '';
  }

  get remoteMinor(): number {
    return this.remote?.minor ?? 0;
  }

  get remoteWindow(): number {
    return this.remote?.window ?? 1;
  }

  /**
   * Reads until the peer closes. `ignoring()` turns true once the session has ended: frames are
   * then drained and dropped. A failure of the transport itself comes out as a TransportFailure.
   */
  async read(frames: AsyncIterable<Uint8Array>, ignoring: () => boolean): Promise<void> {
    const iterator = frames[Symbol.asyncIterator]();
    try {
      for (;;) {
        const pending = iterator.next();
        // A group ends where the peer's stream pauses: no batch waits for a frame still on its way.
        // The event loop gets a turn between groups.
        while (this.queued.length > 0 && !(await settlesAtOnce(pending))) {
          this.lastYield = performance.now();
          await this.applyGroup(ignoring);
        }
        let next: IteratorResult<Uint8Array>;
        try {
          next = await pending;
        } catch (error) {
          throw new TransportFailure(error);
        }
        if (next.done === true) break;
        const frame = next.value;
        if (ignoring()) {
          this.queued.length = 0;
          continue;
        }
        this.bytesReceived += framedSize(frame.byteLength);
        if (frame.byteLength > MAX_FRAME_BYTES) throw new FrameTooLargeError(frame.byteLength, MAX_FRAME_BYTES);
        const newer = this.remote !== undefined && this.remote.minor > PROTOCOL_MINOR;
        await this.handle(decodeMessage(frame, { extensions: newer, sender: this.remote?.deviceId }), ignoring);
      }
      await this.applyQueued(ignoring);
    } catch (error) {
      if (error instanceof ApplyFailure) throw error.cause;
      // Batches that arrived whole before a cut or a bad frame are applied, as they would have been
      // one by one; the error that ended the reading is the one reported.
      try {
        await this.applyQueued(ignoring);
      } catch {
        // Secondary to `error`.
      }
      throw error;
    }
    if (!ignoring() && !this.done.settled) {
      throw new ProtocolError('PROTOCOL_CLOSED', this.remote ? 'peer closed the stream before it was done' : 'peer closed the stream without a hello');
    }
  }

  private async handle(message: SyncMessage, ignoring: () => boolean): Promise<void> {
    // What follows a batch may rely on it being applied (CAUGHT_UP, DONE); an ACK is about our
    // own batches, so the peer's keep their group.
    if (message.type !== 'batch' && message.type !== 'ack') await this.applyQueued(ignoring);
    if (message.type === 'error') throw new RemoteError(message.code, message.message);
    if (message.type === 'hello') return this.onHello(message);
    if (this.remote === undefined) throw unexpected(`${message.type} before hello`);
    switch (message.type) {
      case 'have':
        if (this.have.settled) throw unexpected('a second have');
        return this.have.resolve(message.cursor);
      case 'batch':
        return this.onBatch(message, ignoring);
      case 'ack':
        this.sender.onAck(message.batch);
        return this.hooks.onAck();
      case 'caught-up':
        if (this.caughtUp.settled) throw unexpected('a second caught-up');
        this.caughtUp.resolve();
        this.remoteRemaining = 0;
        return this.hooks.onCaughtUp();
      case 'done':
        // A live peer stopped before it caught up may say DONE without CAUGHT_UP.
        if (this.done.settled) throw unexpected('a second done');
        this.done.resolve();
        return this.hooks.onDone();
      case 'drift':
        return this.hooks.onDriftReport({ held: message.held, aheadMs: message.aheadMs });
      case 'unknown':
        // A newer minor's message: skipping it is the compatibility rule.
        return;
    }
  }

  private onHello(hello: HelloMessage): void {
    if (this.remote !== undefined) throw unexpected('a second hello');
    if (hello.deviceId === this.hooks.localDeviceId) throw new ProtocolError('PROTOCOL_PEER_MISMATCH', 'peer presents our own device id');
    const expected = this.options.expectedRemoteDeviceId;
    if (expected !== undefined && hello.deviceId !== expected) {
      throw new ProtocolError('PROTOCOL_PEER_MISMATCH', `hello names device ${hello.deviceId.slice(0, 80)}, but the connection is authenticated as ${expected}`);
    }
    this.remote = hello;
    const ours = this.store.schemaVersion();
    const schema = hello.schemaVersion === ours ? '' : ` (ours is ${ours}; entries it has and we lack are quarantined until we upgrade)`;
    this.log(`hello from ${hello.deviceId}: protocol ${hello.major}.${hello.minor}, schema ${hello.schemaVersion}${schema}${hello.live ? ', live' : ''}`);
    this.hooks.onHello();
  }

  private async onBatch(batch: BatchMessage, ignoring: () => boolean): Promise<void> {
    if (this.done.settled) throw unexpected('a batch after done');
    if (batch.batch !== this.expectedBatch) throw unexpected(`batch ${batch.batch} where batch ${this.expectedBatch} was due`);
    this.expectedBatch++;
    this.queued.push(batch);
    // Half the window stays open, so the peer keeps sending while this group is applied.
    if (this.queued.length >= Math.max(1, this.options.window >> 1)) await this.applyGroup(ignoring);
  }

  /** Applies every queued batch, group after group (before a message that may rely on them). */
  private async applyQueued(ignoring: () => boolean): Promise<void> {
    while (this.queued.length > 0 && !ignoring()) await this.applyGroup(ignoring);
    this.queued.length = 0;
  }

  /**
   * Applies the queue's next group in one transaction (it starts no batch after GROUP_COMMIT_MS),
   * acknowledges it once committed, then reports its batches. A batch merge refuses ends the
   * session after the batches before it are committed and acknowledged. Where the connection is
   * shared, the group waits for its turn, and is applied in the same continuation as the check.
   */
  private async applyGroup(ignoring: () => boolean): Promise<void> {
    // Frames the transport has buffered come in without a task in between, so group after group
    // could run on microtasks alone while a window of batches waits: the event loop gets a turn at
    // least every APPLY_YIELD_MS (acks go out, pings are answered: libp2p's connection monitor
    // closes a connection whose ping waits 5 s). After a long group the turn lasts a moment
    // (APPLY_PAUSE_SHARE of it): a ping takes several round trips, each needing a turn here.
    if (performance.now() - this.lastYield >= APPLY_YIELD_MS) {
      await pause(Math.min(APPLY_PAUSE_MAX_MS, this.lastGroupMs * APPLY_PAUSE_SHARE));
      this.lastYield = performance.now();
    }
    const turn = this.options.turn;
    if (turn !== undefined) while (!ignoring() && !turn.free()) await turn.wait();
    if (ignoring()) {
      this.queued.length = 0;
      return;
    }
    let group: AppliedGroup;
    const started = performance.now();
    try {
      group = this.storeGroup();
      this.lastGroupMs = performance.now() - started;
    } catch (error) {
      this.queued.length = 0;
      throw new ApplyFailure(error);
    }
    if (group.applied.length === 0 && group.refused === undefined) throw new Error('the store applied no batch of a group');
    const batches = this.queued.splice(0, group.applied.length);
    if (group.refused !== undefined) this.queued.length = 0;
    if (batches.length > 0) this.hooks.ack(batches.at(-1)!.batch);
    for (const [i, batch] of batches.entries()) this.onApplied(batch, group.applied[i]!);
    if (group.refused !== undefined) throw new ApplyFailure(group.refused);
  }

  /** The store's group apply, or one batch through applyBatch where the store has none. */
  private storeGroup(): AppliedGroup {
    if (this.store.applyBatches !== undefined) return this.store.applyBatches(this.remoteId, this.queued, GROUP_COMMIT_MS);
    const batch = this.queued[0]!;
    try {
      return { applied: [this.store.applyBatch(this.remoteId, batch.entries, batch.cursor)] };
    } catch (error) {
      if (error instanceof ProtocolError && error.code === 'PROTOCOL_ENTRY_REJECTED') return { applied: [], refused: error };
      throw error;
    }
  }

  private onApplied(batch: BatchMessage, applied: AppliedBatch): void {
    const appended = applied.after > applied.before;
    if (appended && applied.onlyMerged) this.sender.echo.add(applied.before, applied.after);
    if (applied.quarantined > 0) this.log(`batch ${batch.batch}: ${applied.quarantined} entries quarantined (${applied.quarantineReasons.join(', ')})`);
    if (applied.heldForDrift !== undefined) this.hooks.onHeldForDrift(applied.heldForDrift);
    this.received += batch.entries.length;
    this.remoteRemaining = batch.remaining;
    this.hooks.onApplied(appended);
  }

  private log(message: string): void {
    try {
      this.options.log?.(message);
    } catch {
      // The log is an observer.
    }
  }
}

/** A turn of the event loop, lasting `ms` when that is a millisecond or more. */
function pause(ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    if (ms >= 1) setTimeout(resolve, ms);
    else afterPending(resolve);
  });
}

/** Whether `promise` settles before the event loop reaches its check phase: a frame already buffered. */
function settlesAtOnce(promise: Promise<unknown>): Promise<boolean> {
  return new Promise((resolve) => {
    const cancel = afterPending(() => resolve(false));
    const now = (): void => {
      cancel();
      resolve(true);
    };
    promise.then(now, now);
  });
}

/** Applying the queue failed (the database, or a batch merge refused): nothing more is applied. */
class ApplyFailure extends Error {
  constructor(readonly cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.name = 'ApplyFailure';
  }
}

/** The channel failed (reset, or bytes that do not frame): `cause` is what it threw. */
export class TransportFailure extends Error {
  constructor(readonly cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.name = 'TransportFailure';
  }
}

function unexpected(what: string): ProtocolError {
  return new ProtocolError('PROTOCOL_UNEXPECTED_MESSAGE', `unexpected ${what}`);
}
