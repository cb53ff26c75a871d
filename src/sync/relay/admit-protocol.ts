/**
 * /ahenk/relay-admit/1.0.0: a device presents the relay's join token once and is admitted. The
 * connection is Noise-authenticated, so the device id admitted is the one that proved its key;
 * the token only says the operator let it in. One frame each way:
 *
 * | frame    | bytes | meaning                                                    |
 * | -------- | ----- | ---------------------------------------------------------- |
 * | request  | 1     | version (1)                                                |
 * |          | 32    | the join token, ASCII                                      |
 * | response | 1     | status: 0 admitted, 1 wrong token, 2 too many attempts,    |
 * |          |       | 3 revoked, 4 relay full, 5 bad request                     |
 * |          | ≤ 200 | a sentence for the person, UTF-8                           |
 */
import type { Stream } from '@libp2p/interface';
import { RelayAdmissionError, type RelayAdmissionRefusal } from '../node/errors.ts';
import { byteChannelOf } from '../node/byte-stream.ts';
import { createFramedChannel } from '../session/framed-channel.ts';
import { ADMIT_MESSAGE_TIMEOUT_MS, MAX_ADMIT_FRAME_BYTES } from './constants.ts';

export const ADMIT_PROTOCOL_VERSION = 1;
const MAX_REASON_BYTES = 200;

export type AdmitStatus = 'ADMITTED' | Exclude<RelayAdmissionRefusal, 'UNREACHABLE' | 'PROTOCOL'>;
const STATUS_CODES: readonly AdmitStatus[] = ['ADMITTED', 'WRONG_TOKEN', 'RATE_LIMITED', 'REVOKED', 'FULL', 'BAD_REQUEST'];

export interface AdmitAnswer {
  status: AdmitStatus;
  message: string;
}

/** The relay's side: reads one bounded request, asks `decide` (given the token, or undefined when malformed), answers. */
export async function serveAdmitStream(stream: Stream, decide: (token: string | undefined) => AdmitAnswer): Promise<AdmitAnswer> {
  const channel = createFramedChannel(byteChannelOf(stream), { maxFrameBytes: MAX_ADMIT_FRAME_BYTES });
  const frame = await nextFrame(channel.frames(), () => channel.abort(new Error('no admission request in time'))).catch(() => undefined);
  const token = frame !== undefined && frame[0] === ADMIT_PROTOCOL_VERSION ? asciiOrUndefined(frame.subarray(1)) : undefined;
  const answer = decide(token);
  const reason = new TextEncoder().encode(answer.message).subarray(0, MAX_REASON_BYTES);
  const out = new Uint8Array(1 + reason.byteLength);
  out[0] = STATUS_CODES.indexOf(answer.status);
  out.set(reason, 1);
  await channel.send(out).then(() => channel.close()).catch(() => channel.abort(new Error('admission answer not delivered')));
  return answer;
}

/** The device's side: sends the token, returns when admitted, throws RelayAdmissionError otherwise. */
export async function presentJoinToken(stream: Stream, token: string): Promise<void> {
  const channel = createFramedChannel(byteChannelOf(stream), { maxFrameBytes: MAX_ADMIT_FRAME_BYTES });
  const request = new Uint8Array(1 + token.length);
  request[0] = ADMIT_PROTOCOL_VERSION;
  request.set(new TextEncoder().encode(token), 1);
  let frame: Uint8Array | undefined;
  try {
    await channel.send(request);
    frame = await nextFrame(channel.frames(), () => channel.abort(new Error('no answer in time')));
  } catch (error) {
    throw new RelayAdmissionError('PROTOCOL', `the relay did not answer the join request: ${(error as Error).message}`, { cause: error });
  } finally {
    await channel.close().catch(() => {});
  }
  const status = frame === undefined ? undefined : STATUS_CODES[frame[0] ?? -1];
  if (frame === undefined || status === undefined) throw new RelayAdmissionError('PROTOCOL', 'the relay closed the join request without a valid answer');
  if (status === 'ADMITTED') return;
  // The relay's sentence is shown to a person: printable characters only.
  const said = new TextDecoder().decode(frame.subarray(1)).replace(/[^\x20-\x7e]/g, '?');
  throw new RelayAdmissionError(status, `the relay refused: ${said}`);
}

async function nextFrame(frames: AsyncIterable<Uint8Array>, onTimeout: () => void): Promise<Uint8Array | undefined> {
  const timer = setTimeout(onTimeout, ADMIT_MESSAGE_TIMEOUT_MS);
  try {
    const { value, done } = await frames[Symbol.asyncIterator]().next();
    return done ? undefined : value;
  } finally {
    clearTimeout(timer);
  }
}

function asciiOrUndefined(bytes: Uint8Array): string | undefined {
  for (const byte of bytes) if (byte < 0x21 || byte > 0x7e) return undefined;
  return String.fromCharCode(...bytes);
}
