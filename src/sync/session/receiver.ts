/**
 * The reading half of a session: decodes every frame, checks it is allowed at this point of the
 * protocol, and applies batches. It never waits for the transport to send (acks go through the
 * outbox), so it keeps draining the peer even when our own sending side is blocked.
 */
import { MAX_FRAME_BYTES, PROTOCOL_MINOR } from '../protocol/constants.ts';
import { FrameTooLargeError, ProtocolError, RemoteError } from '../protocol/errors.ts';
import { framedSize } from '../protocol/framing.ts';
import { decodeMessage, type BatchMessage, type HelloMessage, type SyncMessage } from '../protocol/messages.ts';
import type { Sender } from './sender.ts';
import { Latch } from './signals.ts';
import type { SyncStore } from './store.ts';

export interface ReceiverHooks {
  localDeviceId: string;
  /** Hello accepted: time to tell the peer what we hold of its log. */
  onHello(): void;
  onAck(): void;
  ack(batch: number): void;
  /** A batch is applied; `appended` when it added rows to our log. */
  onApplied(appended: boolean): void;
  onCaughtUp(): void;
  onDone(): void;
}

export interface ReceiverOptions {
  expectedRemoteDeviceId?: string;
  log?(message: string): void;
}

export class SessionReceiver {
  private remote: HelloMessage | undefined;
  private expectedBatch = 1;
  /** The peer's cursor into our log, from its HAVE. */
  readonly have = new Latch<string>();
  readonly caughtUp = new Latch<void>();
  readonly done = new Latch<void>();
  received = 0;
  bytesReceived = 0;
  remoteRemaining = 0;

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

  get remoteWindow(): number {
    return this.remote?.window ?? 1;
  }

  /**
   * Reads until the peer closes. `ignoring()` turns true once the session has ended: frames are
   * then drained and dropped. A failure of the transport itself comes out as a TransportFailure.
   */
  async read(frames: AsyncIterable<Uint8Array>, ignoring: () => boolean): Promise<void> {
    const iterator = frames[Symbol.asyncIterator]();
    for (;;) {
      let next: IteratorResult<Uint8Array>;
      try {
        next = await iterator.next();
      } catch (error) {
        throw new TransportFailure(error);
      }
      if (next.done === true) break;
      const frame = next.value;
      if (ignoring()) continue;
      this.bytesReceived += framedSize(frame.byteLength);
      if (frame.byteLength > MAX_FRAME_BYTES) throw new FrameTooLargeError(frame.byteLength, MAX_FRAME_BYTES);
      const newer = this.remote !== undefined && this.remote.minor > PROTOCOL_MINOR;
      this.handle(decodeMessage(frame, { extensions: newer, sender: this.remote?.deviceId }));
    }
    if (!ignoring() && !this.done.settled) {
      throw new ProtocolError('PROTOCOL_CLOSED', this.remote ? 'peer closed the stream before it was done' : 'peer closed the stream without a hello');
    }
  }

  private handle(message: SyncMessage): void {
    if (message.type === 'error') throw new RemoteError(message.code, message.message);
    if (message.type === 'hello') return this.onHello(message);
    if (this.remote === undefined) throw unexpected(`${message.type} before hello`);
    switch (message.type) {
      case 'have':
        if (this.have.settled) throw unexpected('a second have');
        return this.have.resolve(message.cursor);
      case 'batch':
        return this.onBatch(message);
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

  private onBatch(batch: BatchMessage): void {
    if (this.done.settled) throw unexpected('a batch after done');
    if (batch.batch !== this.expectedBatch) throw unexpected(`batch ${batch.batch} where batch ${this.expectedBatch} was due`);
    this.expectedBatch++;
    const applied = this.store.applyBatch(this.remoteId, batch.entries, batch.cursor);
    const appended = applied.after > applied.before;
    if (appended && applied.onlyMerged) this.sender.echo.add(applied.before, applied.after);
    if (applied.quarantined > 0) this.log(`batch ${batch.batch}: ${applied.quarantined} entries quarantined (${applied.quarantineReasons.join(', ')})`);
    this.received += batch.entries.length;
    this.remoteRemaining = batch.remaining;
    this.hooks.ack(batch.batch);
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
