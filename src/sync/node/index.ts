// The libp2p sync node: createSyncNode and its config, events and errors.
export { createSwarm, createSyncNode, SyncNode, type ConnectedPeer } from './node.ts';
export type { P2PConfig } from './config.ts';
export { DatabaseBusyError, ListenPortInUseError, MdnsUnsafeError, NodeConfigError, NodeStoppedError, RelayAdmissionError, UnauthorizedPeerError, type RelayAdmissionRefusal } from './errors.ts';
export type {
  DialFailure,
  NetworkChangeEvent,
  DeviceRevokedEvent,
  ClockDriftEvent,
  PeerConnectEvent,
  PeerDisconnectEvent,
  PeerDiscoveryEvent,
  PeerUnreachableEvent,
  PeerPath,
  PeerDirectFailedEvent,
  PeerPathEvent,
  SyncCompleteEvent,
  SyncErrorEvent,
  SyncNodeEventName,
  SyncNodeEvents,
  SyncNodeListener,
  SyncProgressEvent,
  SyncStartEvent,
} from './events.ts';
export type { KnownPeer } from './peer-store.ts';
export type { ListenPort } from './listen-port.ts';
