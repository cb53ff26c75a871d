// The relay server for an always-on machine: createRelayNode, its config and counters.
export { createRelayNode, RelayNode } from './relay.ts';
export type { RelayConfig, RelayLimits } from './config.ts';
export type { RelayStats } from './counters.ts';
export type { AdmittedPeer } from './state.ts';
