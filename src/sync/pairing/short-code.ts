/**
 * /ahenk/pair-short/1.0.0: a short code a person types takes the place of scanning the QR code.
 * It only hands the full pairing code over, and only to a device that proved the short code (a
 * commitment, so a wrong guess is one failed attempt and nothing to test offline) and whose
 * confirmation code both people said matches. Then the usual /ahenk/pair/1.0.0 pairing runs.
 * Messages and the cryptography: src/auth/pairing/short-code.ts; the reasoning: docs/decisions.md.
 */
import type { Connection, Stream } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import { decodePairingQr } from '../../auth/pairing/challenge.ts';
import { PairingError } from '../../auth/pairing/errors.ts';
import {
  commitMatches,
  confirmationCode,
  createShortCode,
  decodeShortCodeMessage,
  encodeShortCodeMessage,
  MAX_SHORT_CODE_ATTEMPTS,
  MAX_SHORT_CODE_FRAME_BYTES,
  normalizeShortCode,
  proofMatches,
  shortCodeCommit,
  shortCodeProof,
  shortCodeRandom,
  type ShortCodeTranscript,
} from '../../auth/pairing/short-code.ts';
import { DIAL_TIMEOUT_MS } from '../node/constants.ts';
import type { SyncNode } from '../node/node.ts';
import { PAIR_CONFIRM_TIMEOUT_MS, pairingChannel, type PairingChannel, type PairingNode } from './channel.ts';

export const PAIR_SHORT_PROTOCOL = '/ahenk/pair-short/1.0.0';

export interface ShortCodeOfferOptions {
  /** The full pairing code the confirmed device gets (AuthorizerWorkflow.getQrCodeString). */
  pairingCode: () => string;
  /**
   * Shows the confirmation code for a device that proved the short code; resolves true when the
   * person says the other screen shows the same.
   */
  compare: (device: { peerId: string; deviceType: string; confirmation: string }) => Promise<boolean>;
  /** Wrong codes before the offer ends. @default MAX_SHORT_CODE_ATTEMPTS */
  maxAttempts?: number;
}

/** The authorizer's side: listens for short-code handshakes, one at a time, until it ends or closes. */
export class ShortCodeOffer {
  /** As shown: ABCDE-FGHJK. */
  readonly code: string;
  /** Rejects with TOO_MANY_ATTEMPTS or REFUSED when the offer ends without handing the code over. */
  readonly failed: Promise<never>;
  readonly #canonical: string;
  readonly #node: SyncNode;
  readonly #options: ShortCodeOfferOptions;
  readonly #confirmed = new Set<string>();
  readonly #fail: (error: PairingError) => void;
  #failures = 0;
  #busy = false;
  #ended = false;
  #ending: PairingError | undefined;
  #registered = false;

  constructor(node: SyncNode, options: ShortCodeOfferOptions) {
    this.code = createShortCode();
    this.#canonical = normalizeShortCode(this.code)!;
    this.#node = node;
    this.#options = options;
    const { promise, reject } = Promise.withResolvers<never>();
    promise.catch(() => {});
    this.failed = promise;
    this.#fail = reject;
  }

  /** True for a device both people confirmed: the authorizer need not ask about it again. */
  isConfirmed(peerId: string): boolean {
    return this.#confirmed.has(peerId);
  }

  async start(): Promise<void> {
    await this.#node.libp2p.handle(PAIR_SHORT_PROTOCOL, (stream, connection) => void this.#onStream(stream, connection), { maxInboundStreams: 1 });
    this.#registered = true;
  }

  async close(): Promise<void> {
    this.#ended = true;
    if (!this.#registered) return;
    this.#registered = false;
    await this.#node.libp2p.unhandle(PAIR_SHORT_PROTOCOL).catch(() => {});
  }

  async #onStream(stream: Stream, connection: Connection): Promise<void> {
    const channel = pairingChannel(stream, MAX_SHORT_CODE_FRAME_BYTES);
    const signal = this.#node.stopSignal;
    // One handshake at a time: attempts are counted one after the other, and one person answers.
    if (this.#ended || this.#busy) {
      await refuse(channel, new PairingError('REFUSED', this.#ended ? 'this short code is no longer valid' : 'another device is entering the short code; try again in a moment'));
      return;
    }
    this.#busy = true;
    try {
      const t: ShortCodeTranscript = { authorizer: this.#node.peerId, newDevice: connection.remotePeer.toString(), code: this.#canonical };
      const { commit } = decodeShortCodeMessage(await channel.next(signal), 'short-commit');
      const authRandom = shortCodeRandom();
      await channel.send(encodeShortCodeMessage({ type: 'short-random', random: authRandom }));
      const reveal = decodeShortCodeMessage(await channel.next(signal), 'short-reveal');
      if (!commitMatches(t, reveal.random, commit)) {
        this.#failures += 1;
        const left = (this.#options.maxAttempts ?? MAX_SHORT_CODE_ATTEMPTS) - this.#failures;
        if (left > 0) throw new PairingError('BAD_CODE', `wrong short code (${left} attempt${left === 1 ? '' : 's'} left)`);
        throw this.#end(new PairingError('TOO_MANY_ATTEMPTS', 'too many wrong short codes: this pairing has ended; show a new code'));
      }
      await channel.send(encodeShortCodeMessage({ type: 'short-proof', proof: shortCodeProof(t, authRandom, reveal.random) }));
      const confirmation = confirmationCode(t, authRandom, reveal.random);
      // Both people compare at once; either "no" ends the pairing (someone may be in the middle).
      const [here, there] = await Promise.allSettled([
        this.#options.compare({ peerId: t.newDevice, deviceType: reveal.deviceType, confirmation }),
        channel.next(signal, PAIR_CONFIRM_TIMEOUT_MS).then((frame) => decodeShortCodeMessage(frame, 'short-confirmed')),
      ]);
      if (here.status === 'rejected' || !here.value) throw this.#end(new PairingError('REFUSED', 'the confirmation codes were not confirmed on this device'));
      if (there.status === 'rejected') {
        const reason = there.reason instanceof PairingError ? there.reason : new PairingError('PROTOCOL', String(there.reason));
        throw this.#end(new PairingError('REFUSED', `the new device did not confirm the confirmation code: ${reason.message}`));
      }
      this.#confirmed.add(t.newDevice);
      await channel.send(encodeShortCodeMessage({ type: 'short-pairing-code', code: this.#options.pairingCode() }));
      await channel.close().catch(() => {});
    } catch (error) {
      const failure = error instanceof PairingError ? error : new PairingError('PROTOCOL', (error as Error).message);
      await refuse(channel, failure);
      // Reported once the other side has been told why: the command stops the node right after.
      if (this.#ending === failure) this.#fail(failure);
    } finally {
      this.#busy = false;
    }
  }

  /** Ends the offer: no further handshake is accepted; `failed` rejects once the peer has been told. */
  #end(error: PairingError): PairingError {
    this.#ended = true;
    this.#ending = error;
    return error;
  }
}

async function refuse(channel: PairingChannel, error: PairingError): Promise<void> {
  await channel.send(encodeShortCodeMessage({ type: 'reject', code: error.code, message: error.message })).catch(() => {});
  await channel.close().catch(() => channel.abort(error));
}

export interface ShortCodeExchange {
  /** The full pairing code, for NewDeviceWorkflow.respondToChallenge. */
  pairingCode: string;
  confirmation: string;
}

/**
 * The new device's side: dials `address` (any device there; the short code and the comparison
 * decide whether it is the right one), proves the typed code, asks `compare` whether the
 * confirmation code matches, and returns the full pairing code the authorizer hands over.
 */
export async function exchangeShortCode(
  node: PairingNode,
  address: string,
  typed: string,
  deviceType: string,
  compare: (confirmation: string) => Promise<boolean>,
  options: { signal?: AbortSignal } = {},
): Promise<ShortCodeExchange> {
  const code = normalizeShortCode(typed);
  if (code === undefined) throw new PairingError('INVALID_QR', 'not a short pairing code (10 letters and digits, like ABCDE-FGHJK)');
  let target;
  try {
    target = multiaddr(address);
  } catch (error) {
    throw new PairingError('INVALID_QR', `not an address: ${(error as Error).message}`);
  }
  const signal = AbortSignal.any([AbortSignal.timeout(DIAL_TIMEOUT_MS), node.stopSignal, ...(options.signal ? [options.signal] : [])]);
  let connection: Connection;
  try {
    connection = await node.libp2p.dial(target, { signal });
  } catch (error) {
    if (options.signal?.aborted) throw new PairingError('CANCELLED', 'pairing was cancelled', { cause: error });
    throw new PairingError('UNREACHABLE', `could not reach ${address}: ${(error as Error).message}`, { cause: error });
  }
  const stream = await connection.newStream(PAIR_SHORT_PROTOCOL, { signal }).catch((error: unknown) => {
    throw new PairingError('UNKNOWN_CHALLENGE', `the device at ${address} is not showing a short code (used, expired or closed)`, { cause: error });
  });
  const channel = pairingChannel(stream, MAX_SHORT_CODE_FRAME_BYTES);
  const t: ShortCodeTranscript = { authorizer: connection.remotePeer.toString(), newDevice: node.peerId, code };
  try {
    const newRandom = shortCodeRandom();
    await channel.send(encodeShortCodeMessage({ type: 'short-commit', commit: shortCodeCommit(t, newRandom) }));
    const { random: authRandom } = decodeShortCodeMessage(await channel.next(options.signal), 'short-random');
    await channel.send(encodeShortCodeMessage({ type: 'short-reveal', random: newRandom, deviceType }));
    const { proof } = decodeShortCodeMessage(await channel.next(options.signal), 'short-proof');
    // A device that does not know the code learns nothing more, and gets no "yes" to relay.
    if (!proofMatches(t, authRandom, newRandom, proof)) throw new PairingError('BAD_PROOF', 'the device at that address does not know this short code');
    const confirmation = confirmationCode(t, authRandom, newRandom);
    if (!(await compare(confirmation))) throw new PairingError('REFUSED', 'the confirmation codes were not confirmed on this device');
    await channel.send(encodeShortCodeMessage({ type: 'short-confirmed' }));
    const { code: pairingCode } = decodeShortCodeMessage(await channel.next(options.signal, PAIR_CONFIRM_TIMEOUT_MS), 'short-pairing-code');
    // The pairing code must name the device this handshake ran with, or the comparison meant nothing.
    if (decodePairingQr(pairingCode).authorizer !== t.authorizer) throw new PairingError('PROTOCOL', 'the pairing code names another device than the one that proved the short code');
    await channel.close().catch(() => {});
    return { pairingCode, confirmation };
  } catch (error) {
    const failure = error instanceof PairingError ? error : new PairingError('PROTOCOL', (error as Error).message, { cause: error });
    if (failure.code === 'REFUSED' && !failure.message.startsWith('the other device')) {
      await channel.send(encodeShortCodeMessage({ type: 'reject', code: 'REFUSED', message: failure.message })).catch(() => {});
      await channel.close().catch(() => {});
    } else {
      channel.abort(failure);
    }
    throw failure;
  }
}
