/**
 * The libp2p 3 node under a sync node: TCP and WebSockets (`/ws` listen addresses; a page's
 * browser node dials those), Noise, Yamux, identify, ping, the circuit-relay-v2
 * transport; mDNS only when asked (after the safety check); DCUtR and AutoNAT only when relay
 * servers are configured, since they exist to get past NATs.
 */
import './polyfill.ts';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { autoNAT } from '@libp2p/autonat';
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2';
import { dcutr } from '@libp2p/dcutr';
import { identify, identifyPush } from '@libp2p/identify';
import { FaultTolerance, type Libp2p, type PrivateKey } from '@libp2p/interface';
import { mdns } from '@libp2p/mdns';
import { ping } from '@libp2p/ping';
import { tcp } from '@libp2p/tcp';
import { webSockets } from '@libp2p/websockets';
import type { Multiaddr } from '@multiformats/multiaddr';
import { createLibp2p, type Libp2pOptions } from 'libp2p';
import type { ResolvedConfig } from './config.ts';

export async function startLibp2p(privateKey: PrivateKey, config: ResolvedConfig): Promise<Libp2p> {
  const relayed = config.relayServers.length > 0;
  // identifyPush tells connected peers at once when this node's addresses change (a network change).
  const services: NonNullable<Libp2pOptions['services']> = { identify: identify(), identifyPush: identifyPush(), ping: ping() };
  if (relayed) {
    services['dcutr'] = dcutr();
    services['autoNAT'] = autoNAT();
  }
  const peerDiscovery: NonNullable<Libp2pOptions['peerDiscovery']> = [];
  if (config.enableMdns) {
    peerDiscovery.push(mdns({ interval: config.mdnsIntervalMs, serviceTag: config.mdnsServiceTag }));
  }
  const bound: { addresses: Multiaddr[] } = { addresses: [] };
  const node = await createLibp2p({
    privateKey,
    addresses: {
      // Listening on `<relay>/p2p-circuit` is how libp2p 3 asks a relay for a reservation.
      // A bare `/p2p-circuit` also asks for a reservation on any connected relay: a configured
      // relay that went away and came back is reserved on again (libp2p drops a configured
      // relay's reservation for good when its connection closes).
      listen: [...config.listenAddresses, ...config.relayServers.map((relay) => relay.encapsulate('/p2p-circuit')), ...(relayed ? ['/p2p-circuit'] : [])].map(String),
      announceFilter: (addresses) => {
        bound.addresses = addresses.filter((a) => !isCircuit(a));
        return config.announce === 'relayed' ? addresses.filter(isCircuit) : addresses;
      },
    },
    transports: [tcp(), webSockets(), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery,
    services,
    // An unreachable relay must not keep the node from listening on its own addresses; the node
    // checks afterwards that those are bound.
    ...(relayed ? { transportManager: { faultTolerance: FaultTolerance.NO_FATAL } } : {}),
  });
  boundAddresses.set(node, () => {
    node.getMultiaddrs();
    return bound.addresses;
  });
  return node;
}

const boundAddresses = new WeakMap<Libp2p, () => Multiaddr[]>();

/** The node's own (not relayed) addresses, announced or not. */
export function ownAddresses(node: Libp2p): Multiaddr[] {
  return boundAddresses.get(node)?.() ?? node.getMultiaddrs().filter((a) => !isCircuit(a));
}

function isCircuit(address: Multiaddr): boolean {
  return address.toString().includes('/p2p-circuit');
}

/**
 * libp2p's address manager debounces a peer-store update for 1 s on every 'transport:close',
 * which stop() itself triggers, and never cancels it; the address change that follows makes
 * identify push debounce a push for 1 s too, also never cancelled: a stopped node would hold the
 * event loop for a second. Cancel both when the shape is the one we know; otherwise leave it be.
 */
export function cancelLibp2pShutdownTimers(node: Libp2p): void {
  const components: unknown = (node as { components?: unknown }).components;
  if (typeof components === 'object' && components !== null) {
    stopDebounced((components as { addressManager?: unknown }).addressManager, '_updatePeerStoreAddresses');
  }
  stopDebounced((node.services as { identifyPush?: unknown }).identifyPush, '_push');
}

function stopDebounced(owner: unknown, field: string): void {
  if (typeof owner !== 'object' || owner === null) return;
  const debounced: unknown = (owner as Record<string, unknown>)[field];
  if (typeof debounced !== 'function') return;
  const stop: unknown = (debounced as { stop?: unknown }).stop;
  if (typeof stop === 'function') stop.call(debounced);
}
