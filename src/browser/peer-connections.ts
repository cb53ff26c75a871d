/**
 * The page's half of WebRTC for the database worker (src/sync/web/rtc-shim.ts is the other): a
 * dedicated worker has no RTCPeerConnection, so the page holds each one its worker asks for,
 * runs the calls the worker makes on it, tells the worker its state and ICE candidates, and
 * transfers every data channel to the worker in the task that created it (the only moment
 * Chromium lets a channel move). Only this page's own worker talks on the port; still, every
 * request is checked before it reaches the browser's WebRTC.
 */
import { MAX_PEER_CONNECTIONS, RTC_METHODS, type RtcCandidate, type RtcChannelInit, type RtcEvent, type RtcIceServer, type RtcPort, type RtcRequest } from '../sync/web/rtc-messages.ts';

/** The longest channel label or protocol taken (libp2p's are empty or a protocol id). */
const MAX_LABEL_LENGTH = 256;
/** An SDP or ICE candidate longer than this is not one a browser made. */
const MAX_SDP_LENGTH = 64 * 1024;
/** ICE servers taken for one connection. */
const MAX_ICE_SERVERS = 16;
/** A TURN server's username or credential (long-lived secrets and short-lived tokens fit). */
const MAX_ICE_CREDENTIAL_LENGTH = 1024;

/** What the page uses of its RTCPeerConnection (the type check has no DOM library). */
interface PeerConnection {
  connectionState: string;
  onicecandidate: ((event: { candidate: { toJSON(): unknown } | null }) => void) | null;
  onconnectionstatechange: (() => void) | null;
  ondatachannel: ((event: { channel: unknown }) => void) | null;
  createDataChannel(label: string, init: RtcChannelInit): unknown;
  close(): void;
  createOffer(): Promise<unknown>;
  createAnswer(): Promise<unknown>;
  setLocalDescription(description?: unknown): Promise<void>;
  setRemoteDescription(description: unknown): Promise<void>;
  addIceCandidate(candidate?: unknown): Promise<void>;
}

type PeerConnectionClass = new (config: { iceServers: RtcIceServer[] }) => PeerConnection;

/** Whether this page can hold peer connections for its worker. */
export function pageHasWebRtc(): boolean {
  return typeof (globalThis as Record<string, unknown>)['RTCPeerConnection'] === 'function';
}

/** The message that hands the worker its end of the port (worker.ts takes it). */
export interface RtcPortMessage {
  kind: 'rtc-port';
  port: RtcPort;
}

export function isRtcPortMessage(data: unknown): data is RtcPortMessage {
  return typeof data === 'object' && data !== null && (data as { kind?: unknown }).kind === 'rtc-port' && typeof (data as { port?: { postMessage?: unknown } }).port?.postMessage === 'function';
}

/**
 * Gives `worker` a port on which this page holds its peer connections, when the page has WebRTC;
 * returns the function that closes them (undefined when there is no WebRTC to offer).
 */
export function offerPeerConnections(worker: { postMessage(message: unknown, transfer: unknown[]): void }): (() => void) | undefined {
  if (!pageHasWebRtc() || typeof MessageChannel !== 'function') return undefined;
  const { port1, port2 } = new MessageChannel();
  const stop = servePeerConnections(port1 as unknown as RtcPort);
  worker.postMessage({ kind: 'rtc-port', port: port2 }, [port2]);
  return stop;
}

/** Serves the worker's peer connections on `port` until the page goes; returns a function that closes them all. */
export function servePeerConnections(port: RtcPort): () => void {
  const Rtc = (globalThis as Record<string, unknown>)['RTCPeerConnection'] as PeerConnectionClass;
  const connections = new Map<number, PeerConnection>();
  const send = (event: RtcEvent, transfer: unknown[] = []): void => port.postMessage(event, transfer);

  const open = (pc: number, iceServers: RtcIceServer[]): void => {
    if (connections.has(pc) || connections.size >= MAX_PEER_CONNECTIONS) {
      send({ kind: 'state', pc, connectionState: 'failed' });
      return;
    }
    const connection = new Rtc({ iceServers });
    connections.set(pc, connection);
    connection.onicecandidate = ({ candidate }) => send({ kind: 'icecandidate', pc, candidate: candidate === null ? null : (candidate.toJSON() as RtcCandidate) });
    connection.onconnectionstatechange = () => send({ kind: 'state', pc, connectionState: connection.connectionState });
    connection.ondatachannel = ({ channel }) => send({ kind: 'datachannel', pc, dc: channel }, [channel]);
  };

  const call = (request: Extract<RtcRequest, { kind: 'call' }>): void => {
    const run = async (): Promise<unknown> => {
      const connection = connections.get(request.pc);
      if (connection === undefined) throw new Error('no such peer connection');
      switch (request.method) {
        case 'createOffer':
          return connection.createOffer();
        case 'createAnswer':
          return connection.createAnswer();
        case 'setLocalDescription': {
          const description = descriptionArg(request.arg);
          return description === undefined ? connection.setLocalDescription() : connection.setLocalDescription(description);
        }
        case 'setRemoteDescription': {
          const description = descriptionArg(request.arg);
          if (description === undefined) throw new TypeError('setRemoteDescription needs a description');
          return connection.setRemoteDescription(description);
        }
        case 'addIceCandidate':
          return connection.addIceCandidate(candidateArg(request.arg));
      }
    };
    const { pc, call: id } = request;
    run().then(
      (value) => send({ kind: 'reply', pc, call: id, ok: true, value: plainDescription(value) }),
      (error: unknown) => send({ kind: 'reply', pc, call: id, ok: false, error: { name: error instanceof Error ? error.name : 'Error', message: error instanceof Error ? error.message : String(error) } }),
    );
  };

  const handle = (data: unknown): void => {
    const request = checkRequest(data);
    if (request === undefined) return;
    switch (request.kind) {
      case 'open':
        open(request.pc, request.iceServers);
        return;
      case 'call':
        call(request);
        return;
      case 'channel': {
        const connection = connections.get(request.pc);
        if (connection === undefined) return;
        // Transferred in this task: a channel that has lived through a task can no longer move.
        const dc = connection.createDataChannel(request.label, request.init);
        send({ kind: 'channel', pc: request.pc, channel: request.channel, dc }, [dc]);
        return;
      }
      case 'close':
        connections.get(request.pc)?.close();
        connections.delete(request.pc);
        return;
    }
  };

  port.addEventListener('message', (event) => {
    try {
      handle(event.data);
    } catch (error) {
      // A call the browser refused at once (a closed connection, a bad label): the worker's libp2p times it out.
      console.warn('ahenk: a WebRTC request from the worker failed:', error);
    }
  });
  port.start?.();
  return () => {
    for (const connection of connections.values()) connection.close();
    connections.clear();
  };
}

/** The request, its fields checked and copied, or undefined for anything else. */
function checkRequest(data: unknown): RtcRequest | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const message = data as Record<string, unknown>;
  const pc = message['pc'];
  if (!Number.isSafeInteger(pc) || (pc as number) <= 0) return undefined;
  const id = pc as number;
  switch (message['kind']) {
    case 'open': {
      const servers = message['iceServers'];
      if (!Array.isArray(servers) || servers.length > MAX_ICE_SERVERS) return undefined;
      const iceServers = servers.map(iceServer);
      return iceServers.every((s) => s !== undefined) ? { kind: 'open', pc: id, iceServers: iceServers as RtcIceServer[] } : undefined;
    }
    case 'call': {
      const method = message['method'];
      const call = message['call'];
      if (!Number.isSafeInteger(call) || !(RTC_METHODS as readonly unknown[]).includes(method)) return undefined;
      return { kind: 'call', pc: id, call: call as number, method: method as (typeof RTC_METHODS)[number], arg: message['arg'] };
    }
    case 'channel': {
      const channel = message['channel'];
      const label = message['label'];
      const init = channelInit(message['init']);
      if (!Number.isSafeInteger(channel) || typeof label !== 'string' || label.length > MAX_LABEL_LENGTH || init === undefined) return undefined;
      return { kind: 'channel', pc: id, channel: channel as number, label, init };
    }
    case 'close':
      return { kind: 'close', pc: id };
    default:
      return undefined;
  }
}

function iceServer(value: unknown): RtcIceServer | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { urls, username, credential } = value as Record<string, unknown>;
  const list = Array.isArray(urls) ? urls : [urls];
  if (list.length === 0 || list.length > MAX_ICE_SERVERS || !list.every((u) => typeof u === 'string' && u.length <= MAX_LABEL_LENGTH)) return undefined;
  const bounded = (text: unknown): text is string | undefined => text === undefined || (typeof text === 'string' && text.length <= MAX_ICE_CREDENTIAL_LENGTH);
  if (!bounded(username) || !bounded(credential)) return undefined;
  return { urls: list as string[], ...(username === undefined ? {} : { username }), ...(credential === undefined ? {} : { credential }) };
}

function channelInit(value: unknown): RtcChannelInit | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const init = value as Record<string, unknown>;
  const out: RtcChannelInit = {};
  for (const key of ['ordered', 'negotiated'] as const) {
    if (init[key] === undefined) continue;
    if (typeof init[key] !== 'boolean') return undefined;
    out[key] = init[key];
  }
  for (const key of ['maxPacketLifeTime', 'maxRetransmits', 'id'] as const) {
    if (init[key] === undefined) continue;
    if (!Number.isSafeInteger(init[key]) || (init[key] as number) < 0 || (init[key] as number) > 65_535) return undefined;
    out[key] = init[key] as number;
  }
  if (init['protocol'] !== undefined) {
    if (typeof init['protocol'] !== 'string' || init['protocol'].length > MAX_LABEL_LENGTH) return undefined;
    out.protocol = init['protocol'];
  }
  return out;
}

/** A session description from the worker: `{ type, sdp }` with a known type and a bounded SDP. */
function descriptionArg(value: unknown): { type: string; sdp: string } | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { type, sdp } = value as Record<string, unknown>;
  if (!['offer', 'answer', 'pranswer', 'rollback'].includes(type as string)) throw new TypeError('a session description needs a known type');
  if (typeof sdp !== 'string' || sdp.length > MAX_SDP_LENGTH) throw new TypeError('a session description needs an SDP string');
  return { type: type as string, sdp };
}

/** An ICE candidate from the worker (from the remote peer, through libp2p's signalling), bounded. */
function candidateArg(value: unknown): unknown {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null) throw new TypeError('an ICE candidate must be an object');
  const { candidate, sdpMid, sdpMLineIndex, usernameFragment } = value as Record<string, unknown>;
  if (typeof candidate !== 'string' || candidate.length > MAX_SDP_LENGTH) throw new TypeError('an ICE candidate needs a candidate string');
  if (sdpMid !== null && sdpMid !== undefined && (typeof sdpMid !== 'string' || sdpMid.length > MAX_LABEL_LENGTH)) throw new TypeError('bad sdpMid');
  if (sdpMLineIndex !== null && sdpMLineIndex !== undefined && (!Number.isSafeInteger(sdpMLineIndex) || (sdpMLineIndex as number) < 0 || (sdpMLineIndex as number) > 65_535)) throw new TypeError('bad sdpMLineIndex');
  if (usernameFragment !== null && usernameFragment !== undefined && (typeof usernameFragment !== 'string' || usernameFragment.length > MAX_LABEL_LENGTH)) throw new TypeError('bad usernameFragment');
  return { candidate, sdpMid: sdpMid ?? null, sdpMLineIndex: sdpMLineIndex ?? null, usernameFragment: usernameFragment ?? null };
}

/** What a call resolved with, as data (an RTCSessionDescription cannot be posted as it is). */
function plainDescription(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return null;
  const { type, sdp } = value as { type?: unknown; sdp?: unknown };
  return { type, sdp };
}
