/**
 * RTCPeerConnection for the database worker, where browsers have none: each peer connection is a
 * real one in the page (src/browser/peer-connections.ts), driven over a MessagePort, and every
 * data channel is transferred to the worker when it is born, so a sync's bytes go from the
 * network straight to the worker. @libp2p/webrtc reads `globalThis.RTCPeerConnection` when its
 * module loads; `installPageRtc` puts this class there first (node.ts imports it after).
 *
 * What @libp2p/webrtc uses is what is here: the five asynchronous methods, `createDataChannel`,
 * `close`, `connectionState` and the connectionstatechange, icecandidate and datachannel events.
 */
import { PendingDataChannel, type DataChannel, type Handler } from './rtc-channel.ts';
import { MAX_PEER_CONNECTIONS, type RtcCandidate, type RtcChannelInit, type RtcDescription, type RtcEvent, type RtcIceServer, type RtcMethod, type RtcPort, type RtcRequest } from './rtc-messages.ts';

let bridge: PageBridge | undefined;

/**
 * Takes the port on which this worker's page serves peer connections, and installs the shim's
 * RTCPeerConnection, RTCSessionDescription and RTCIceCandidate where the worker has none.
 */
export function installPageRtc(port: RtcPort): void {
  bridge = new PageBridge(port);
  const scope = globalThis as Record<string, unknown>;
  scope['RTCPeerConnection'] ??= PagePeerConnection;
  scope['RTCSessionDescription'] ??= SessionDescription;
  scope['RTCIceCandidate'] ??= IceCandidate;
}

/** Whether this worker can open WebRTC connections (its page gave it a port, or it has its own). */
export function webRtcAvailable(): boolean {
  return typeof (globalThis as Record<string, unknown>)['RTCPeerConnection'] === 'function';
}

class PageBridge {
  readonly #port: RtcPort;
  readonly #connections = new Map<number, PagePeerConnection>();
  #next = 1;

  constructor(port: RtcPort) {
    this.#port = port;
    port.addEventListener('message', (event) => this.#receive(event.data));
    port.start?.();
  }

  register(connection: PagePeerConnection): number {
    if (this.#connections.size >= MAX_PEER_CONNECTIONS) throw new Error(`too many peer connections (at most ${MAX_PEER_CONNECTIONS})`);
    const id = this.#next++;
    this.#connections.set(id, connection);
    return id;
  }

  unregister(id: number): void {
    this.#connections.delete(id);
  }

  post(request: RtcRequest): void {
    this.#port.postMessage(request);
  }

  #receive(data: unknown): void {
    if (typeof data !== 'object' || data === null) return;
    const message = data as RtcEvent;
    const connection = typeof message.pc === 'number' ? this.#connections.get(message.pc) : undefined;
    if (connection === undefined) {
      // A channel for a connection closed meanwhile: close it rather than leak it.
      if ((message.kind === 'channel' || message.kind === 'datachannel') && isChannel(message.dc)) message.dc.close();
      return;
    }
    connection.receive(message);
  }
}

function isChannel(value: unknown): value is DataChannel {
  return typeof value === 'object' && value !== null && typeof (value as DataChannel).send === 'function' && typeof (value as DataChannel).close === 'function';
}

/** An RTCPeerConnection whose real self lives in the page. */
export class PagePeerConnection extends EventTarget {
  connectionState = 'new';
  onconnectionstatechange: Handler = null;
  onicecandidate: Handler = null;
  onicecandidateerror: Handler = null;
  ondatachannel: Handler = null;
  readonly #bridge: PageBridge;
  readonly #id: number;
  readonly #calls = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  readonly #channels = new Map<number, PendingDataChannel>();
  #nextCall = 1;
  #nextChannel = 1;
  #closed = false;

  constructor(config: { iceServers?: RtcIceServer[] } = {}) {
    super();
    if (bridge === undefined) throw new Error('no page serves peer connections to this worker');
    this.#bridge = bridge;
    this.#id = bridge.register(this);
    this.#bridge.post({ kind: 'open', pc: this.#id, iceServers: plainIceServers(config.iceServers ?? []) });
  }

  createOffer(): Promise<RtcDescription> {
    return this.#call('createOffer', undefined) as Promise<RtcDescription>;
  }

  createAnswer(): Promise<RtcDescription> {
    return this.#call('createAnswer', undefined) as Promise<RtcDescription>;
  }

  async setLocalDescription(description?: RtcDescription): Promise<void> {
    await this.#call('setLocalDescription', description === undefined ? undefined : { type: description.type, sdp: description.sdp });
  }

  async setRemoteDescription(description: RtcDescription): Promise<void> {
    await this.#call('setRemoteDescription', { type: description.type, sdp: description.sdp });
  }

  async addIceCandidate(candidate?: RtcCandidate | null): Promise<void> {
    await this.#call('addIceCandidate', candidate == null ? undefined : candidateInit(candidate));
  }

  /** A channel that becomes the page's real one (transferred) a moment later; until then it is connecting. */
  createDataChannel(label: string, init: RtcChannelInit = {}): DataChannel {
    if (this.connectionState === 'closed') throw new DOMException('the peer connection is closed', 'InvalidStateError');
    const channel = this.#nextChannel++;
    const pending = new PendingDataChannel(label, init.protocol ?? '');
    this.#channels.set(channel, pending);
    this.#bridge.post({ kind: 'channel', pc: this.#id, channel, label, init: plainChannelInit(init) });
    return pending;
  }

  close(): void {
    // Its own flag, not connectionState: the page may have reported `closed` first, and the slot,
    // the page's entry and the pending calls must still be let go.
    if (this.#closed) return;
    this.#closed = true;
    this.connectionState = 'closed';
    this.#bridge.post({ kind: 'close', pc: this.#id });
    this.#bridge.unregister(this.#id);
    const error = new DOMException('the peer connection is closed', 'InvalidStateError');
    for (const call of this.#calls.values()) call.reject(error);
    this.#calls.clear();
    for (const pending of this.#channels.values()) pending.close();
    this.#channels.clear();
  }

  /** A message from the page about this connection. */
  receive(message: RtcEvent): void {
    switch (message.kind) {
      case 'reply': {
        const call = this.#calls.get(message.call);
        this.#calls.delete(message.call);
        if (message.ok) call?.resolve(message.value);
        else call?.reject(Object.assign(new Error(String(message.error.message)), { name: String(message.error.name) }));
        return;
      }
      case 'state':
        if (this.connectionState === 'closed' || typeof message.connectionState !== 'string') return;
        this.connectionState = message.connectionState;
        this.#emit('connectionstatechange', new Event('connectionstatechange'));
        return;
      case 'icecandidate': {
        const init = message.candidate;
        const candidate = init === null ? null : new IceCandidate(init);
        this.#emit('icecandidate', Object.assign(new Event('icecandidate'), { candidate }));
        return;
      }
      case 'channel': {
        const pending = this.#channels.get(message.channel);
        this.#channels.delete(message.channel);
        if (isChannel(message.dc)) (pending ?? { attach: (dc: DataChannel) => dc.close() }).attach(message.dc);
        return;
      }
      case 'datachannel':
        if (isChannel(message.dc)) this.#emit('datachannel', Object.assign(new Event('datachannel'), { channel: message.dc }));
        return;
    }
  }

  #emit(type: 'connectionstatechange' | 'icecandidate' | 'datachannel', event: Event): void {
    const handler = type === 'connectionstatechange' ? this.onconnectionstatechange : type === 'icecandidate' ? this.onicecandidate : this.ondatachannel;
    handler?.call(this, event);
    this.dispatchEvent(event);
  }

  #call(method: RtcMethod, arg: unknown): Promise<unknown> {
    if (this.connectionState === 'closed') return Promise.reject(new DOMException('the peer connection is closed', 'InvalidStateError'));
    const call = this.#nextCall++;
    const reply = Promise.withResolvers<unknown>();
    this.#calls.set(call, reply);
    this.#bridge.post({ kind: 'call', pc: this.#id, call, method, arg });
    return reply.promise;
  }
}

/** RTCSessionDescription where the worker has none (libp2p builds one from the remote SDP). */
class SessionDescription implements RtcDescription {
  readonly type: string;
  readonly sdp: string;

  constructor(init: RtcDescription) {
    this.type = String(init.type);
    this.sdp = String(init.sdp ?? '');
  }

  toJSON(): RtcDescription {
    return { type: this.type, sdp: this.sdp };
  }
}

/** RTCIceCandidate where the worker has none: the candidate as data, and `toJSON` as libp2p sends it. */
class IceCandidate implements RtcCandidate {
  readonly candidate: string;
  readonly sdpMid: string | null;
  readonly sdpMLineIndex: number | null;
  readonly usernameFragment: string | null;

  constructor(init: RtcCandidate) {
    this.candidate = String(init.candidate ?? '');
    this.sdpMid = init.sdpMid ?? null;
    this.sdpMLineIndex = init.sdpMLineIndex ?? null;
    this.usernameFragment = init.usernameFragment ?? null;
  }

  toJSON(): RtcCandidate {
    return { candidate: this.candidate, sdpMid: this.sdpMid, sdpMLineIndex: this.sdpMLineIndex, usernameFragment: this.usernameFragment };
  }
}

function candidateInit(candidate: RtcCandidate & { toJSON?: () => RtcCandidate }): RtcCandidate {
  const init = typeof candidate.toJSON === 'function' ? candidate.toJSON() : candidate;
  return { candidate: String(init.candidate ?? ''), sdpMid: init.sdpMid ?? null, sdpMLineIndex: init.sdpMLineIndex ?? null, usernameFragment: init.usernameFragment ?? null };
}

function plainIceServers(servers: RtcIceServer[]): RtcIceServer[] {
  return servers.map((server) => ({
    urls: Array.isArray(server.urls) ? server.urls.map(String) : String(server.urls),
    ...(server.username === undefined ? {} : { username: String(server.username) }),
    ...(server.credential === undefined ? {} : { credential: String(server.credential) }),
  }));
}

function plainChannelInit(init: RtcChannelInit): RtcChannelInit {
  const out: RtcChannelInit = {};
  if (init.ordered !== undefined) out.ordered = init.ordered;
  if (init.maxPacketLifeTime !== undefined) out.maxPacketLifeTime = init.maxPacketLifeTime;
  if (init.maxRetransmits !== undefined) out.maxRetransmits = init.maxRetransmits;
  if (init.protocol !== undefined) out.protocol = init.protocol;
  if (init.negotiated !== undefined) out.negotiated = init.negotiated;
  if (init.id !== undefined) out.id = init.id;
  return out;
}
