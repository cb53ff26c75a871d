/**
 * The messages between the database worker's WebRTC shim (rtc-shim.ts) and the page that holds
 * the real RTCPeerConnections (src/browser/peer-connections.ts), over a MessagePort of their own.
 * A dedicated worker has no RTCPeerConnection, but an RTCDataChannel can be transferred to it when
 * it is transferred in the task that created it: the page transfers every channel at birth, and
 * the bytes of a sync then go from the network to the worker without passing through the page.
 */

/** Peer connections one page holds for its worker at once: a person's devices, with room to spare. */
export const MAX_PEER_CONNECTIONS = 64;

/** The asynchronous RTCPeerConnection methods the worker calls on the page's connection. */
export const RTC_METHODS = ['createOffer', 'createAnswer', 'setLocalDescription', 'setRemoteDescription', 'addIceCandidate'] as const;
export type RtcMethod = (typeof RTC_METHODS)[number];

/** What crosses for an ICE server: strings only (an RTCConfiguration's certificates stay behind). */
export interface RtcIceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

/** A session description or ICE candidate as plain data (what `toJSON()` gives). */
export interface RtcDescription {
  type: string;
  sdp?: string;
}
export interface RtcCandidate {
  candidate?: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
  usernameFragment?: string | null;
}
/** The data channel options libp2p passes (all plain data). */
export interface RtcChannelInit {
  ordered?: boolean;
  maxPacketLifeTime?: number;
  maxRetransmits?: number;
  protocol?: string;
  negotiated?: boolean;
  id?: number;
}

/** Worker -> page. `pc` names a peer connection the worker opened with `open`. */
export type RtcRequest =
  | { kind: 'open'; pc: number; iceServers: RtcIceServer[] }
  | { kind: 'call'; pc: number; call: number; method: RtcMethod; arg: unknown }
  | { kind: 'channel'; pc: number; channel: number; label: string; init: RtcChannelInit }
  | { kind: 'close'; pc: number };

/** Page -> worker. A channel (`channel` or `datachannel`) is transferred with the message. */
export type RtcEvent =
  | { kind: 'reply'; pc: number; call: number; ok: true; value: unknown }
  | { kind: 'reply'; pc: number; call: number; ok: false; error: { name: string; message: string } }
  | { kind: 'state'; pc: number; connectionState: string }
  | { kind: 'icecandidate'; pc: number; candidate: RtcCandidate | null }
  | { kind: 'channel'; pc: number; channel: number; dc: unknown }
  | { kind: 'datachannel'; pc: number; dc: unknown };

/** The part of a MessagePort both sides use (the type check has no DOM library). */
export interface RtcPort {
  postMessage(message: unknown, transfer?: unknown[]): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  start?(): void;
}
