/**
 * The data channel the worker's RTCPeerConnection shim (rtc-shim.ts) hands libp2p when it asks for
 * one: the page makes the real channel and transfers it a message later, so until then this one
 * is `connecting`, and from then on it is a window on the real one.
 */

/** What the worker's side needs of an RTCDataChannel (a real one, transferred from the page). */
export interface DataChannel extends EventTarget {
  readonly label: string;
  readonly id: number | null;
  readonly protocol: string;
  readonly readyState: string;
  readonly bufferedAmount: number;
  bufferedAmountLowThreshold: number;
  binaryType: string;
  send(data: unknown): void;
  close(): void;
}

const CHANNEL_EVENTS = ['open', 'message', 'bufferedamountlow', 'error', 'closing', 'close'] as const;
type ChannelEvent = (typeof CHANNEL_EVENTS)[number];
export type Handler = ((event: Event) => void) | null;

/**
 * The channel `createDataChannel` returns at once: connecting until the page's real channel
 * arrives, then a window on it (its state, its buffer, its events re-dispatched here).
 */
export class PendingDataChannel extends EventTarget implements DataChannel {
  readonly label: string;
  readonly protocol: string;
  onopen: Handler = null;
  onmessage: Handler = null;
  onbufferedamountlow: Handler = null;
  onerror: Handler = null;
  onclosing: Handler = null;
  onclose: Handler = null;
  #real: DataChannel | undefined;
  #closed = false;
  #opened = false;
  #binaryType = 'arraybuffer';
  #threshold = 0;

  constructor(label: string, protocol: string) {
    super();
    this.label = label;
    this.protocol = protocol;
  }

  get id(): number | null {
    return this.#real?.id ?? null;
  }

  get readyState(): string {
    return this.#real?.readyState ?? (this.#closed ? 'closed' : 'connecting');
  }

  get bufferedAmount(): number {
    return this.#real?.bufferedAmount ?? 0;
  }

  get bufferedAmountLowThreshold(): number {
    return this.#threshold;
  }

  set bufferedAmountLowThreshold(value: number) {
    this.#threshold = value;
    if (this.#real !== undefined) this.#real.bufferedAmountLowThreshold = value;
  }

  get binaryType(): string {
    return this.#binaryType;
  }

  set binaryType(value: string) {
    this.#binaryType = value;
    if (this.#real !== undefined) this.#real.binaryType = value;
  }

  send(data: unknown): void {
    if (this.#real === undefined) throw new DOMException(`the data channel is ${this.readyState}`, 'InvalidStateError');
    this.#real.send(data);
  }

  close(): void {
    if (this.#real !== undefined) {
      this.#real.close();
      return;
    }
    if (this.#closed) return;
    this.#closed = true;
    this.#emit('close', new Event('close'));
  }

  /** The page's channel arrived: from now on this channel is that one. */
  attach(real: DataChannel): void {
    if (this.#closed) {
      real.close();
      return;
    }
    this.#real = real;
    real.binaryType = this.#binaryType;
    real.bufferedAmountLowThreshold = this.#threshold;
    for (const type of CHANNEL_EVENTS) {
      real.addEventListener(type, (event) => this.#emit(type, copyEvent(type, event)));
    }
    if (real.readyState === 'open') queueMicrotask(() => this.#emit('open', new Event('open')));
  }

  #emit(type: ChannelEvent, event: Event): void {
    if (type === 'open') {
      if (this.#opened) return;
      this.#opened = true;
    }
    const handler = { open: this.onopen, message: this.onmessage, bufferedamountlow: this.onbufferedamountlow, error: this.onerror, closing: this.onclosing, close: this.onclose }[type];
    handler?.call(this, event);
    this.dispatchEvent(event);
  }
}

/** An event already dispatched on the real channel cannot be dispatched again: a copy with its data. */
function copyEvent(type: ChannelEvent, event: Event): Event {
  if (type === 'message') return new MessageEvent('message', { data: (event as MessageEvent).data });
  if (type === 'error') return Object.assign(new Event('error'), { error: (event as Event & { error?: unknown }).error });
  return new Event(type);
}
