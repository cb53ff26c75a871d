/**
 * The single writer of a session. Frames go out one at a time in order, except acknowledgements:
 * they are cumulative, so only the latest waits, and it jumps the queue. The reading side only
 * ever enqueues, never waits for the transport, so two peers whose transports are both full still
 * read each other's frames and cannot deadlock.
 */
import { encodeMessage } from '../protocol/messages.ts';
import { framedSize } from '../protocol/framing.ts';
import type { FrameChannel } from './channel.ts';

interface Queued {
  frame: Uint8Array;
  resolve(): void;
  reject(reason: unknown): void;
}

export class Outbox {
  private readonly queue: Queued[] = [];
  private pendingAck: number | undefined;
  private pumping = false;
  private failure: unknown;
  private readonly idleWaiters: (() => void)[] = [];
  /** Wire bytes handed to the transport (length prefixes included). */
  bytesSent = 0;

  constructor(
    private readonly channel: FrameChannel,
    private readonly signal: AbortSignal,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Queues a frame; resolves when the transport took it. */
  push(frame: Uint8Array): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ frame, resolve, reject });
      this.pump();
    });
  }

  /** Queues an acknowledgement of every batch up to `batch`. */
  ack(batch: number): void {
    if (this.failure !== undefined) return;
    this.pendingAck = Math.max(this.pendingAck ?? 0, batch);
    this.pump();
  }

  /** Resolves once everything queued so far is handed to the transport. */
  flushed(): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (!this.pumping && this.queue.length === 0 && this.pendingAck === undefined) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Drops everything not yet sent (after a failure, or to put an ERROR first). */
  clear(reason: unknown): void {
    for (const item of this.queue.splice(0)) item.reject(reason);
    this.pendingAck = undefined;
  }

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    void this.run();
  }

  private async run(): Promise<void> {
    try {
      for (;;) {
        let item: Queued | undefined;
        let frame: Uint8Array;
        if (this.pendingAck !== undefined) {
          frame = encodeMessage({ type: 'ack', batch: this.pendingAck });
          this.pendingAck = undefined;
        } else {
          item = this.queue.shift();
          if (item === undefined) break;
          frame = item.frame;
        }
        try {
          await this.channel.send(frame, this.signal);
        } catch (error) {
          item?.reject(error);
          throw error;
        }
        this.bytesSent += framedSize(frame.byteLength);
        item?.resolve();
      }
    } catch (error) {
      this.failure = error;
      this.clear(error);
      this.onError(error);
    } finally {
      this.pumping = false;
      for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }
}
