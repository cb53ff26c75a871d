// The relay server for an always-on machine: createRelayNode, its config and counters; joinRelay for a device.
export { createRelayNode, RelayNode } from './relay.ts';
export { joinRelay, type JoinRelayOptions } from './join.ts';
export type { RelayConfig, RelayLimits } from './config.ts';
export type { RelayStats } from './counters.ts';
export type { AdmittedPeer } from './state.ts';
