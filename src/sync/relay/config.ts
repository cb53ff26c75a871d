/**
 * RelayConfig: where a relay keeps its key and admitted devices, what it listens on, and the
 * limits it grants. `resolveRelayConfig` fills the defaults and rejects values that cannot work.
 */
import type { Multiaddr } from '@multiformats/multiaddr';
import { nonNegative, parseAddresses } from '../node/config.ts';
import { NodeConfigError } from '../node/errors.ts';
import {
  DEFAULT_CIRCUIT_BYTES,
  DEFAULT_CIRCUIT_DURATION_MS,
  DEFAULT_MAX_CIRCUITS_PER_PEER,
  DEFAULT_MAX_RESERVATIONS,
  DEFAULT_RELAY_LISTEN_ADDRESSES,
  DEFAULT_RESERVATION_TTL_MS,
  DEFAULT_STATUS_INTERVAL_MS,
  STRANGER_WINDOW_MS,
} from './constants.ts';
import { isPeerId } from './state.ts';

export interface RelayLimits {
  /** Reservations held at once (one per admitted device that listens through the relay). @default 64 */
  maxReservations?: number;
  /** Circuits one peer may have open at once. @default 8 */
  maxCircuitsPerPeer?: number;
  /** How long one circuit may live, in milliseconds. @default 3600000 (1 hour) */
  circuitDurationMs?: number;
  /** Bytes one circuit may carry, both directions together. @default 1 GiB */
  circuitBytes?: bigint | number;
  /** How long a reservation lasts before the device must refresh it. @default 7200000 (2 hours) */
  reservationTtlMs?: number;
}

export interface RelayConfig {
  /**
   * The relay's state file: its private key (so its PeerId survives restarts) and the admitted
   * devices. Created with mode 0600 on first start.
   */
  stateFile: string;
  /**
   * Multiaddrs to listen on: TCP and WebSockets (`/ws`).
   * @default ['/ip4/0.0.0.0/tcp/4001', '/ip4/0.0.0.0/tcp/4002/ws']
   */
  listenAddresses?: string[];
  /** Addresses to tell devices instead of the listen addresses (a VPS's public address, a DNS name). @default [] */
  announceAddresses?: string[];
  /**
   * Device peer ids to admit, added to the state file (admission is remembered; `revoke` removes it).
   * Only admitted devices may hold a reservation or open a circuit, at either end.
   * @default []
   */
  admit?: string[];
  limits?: RelayLimits;
  /**
   * How long a peer that is not admitted may stay connected to present the join token, in
   * milliseconds; then the relay hangs up on it. @default 15000
   */
  joinWindowMs?: number;
  /** How often the counters are logged, in milliseconds; 0 never. @default 600000 (10 minutes) */
  statusIntervalMs?: number;
  /** Receives one line per notable thing the relay does (admissions, refusals, counters). */
  log?: (message: string) => void;
}

export interface ResolvedRelayConfig {
  stateFile: string;
  listenAddresses: Multiaddr[];
  announceAddresses: Multiaddr[];
  admit: string[];
  maxReservations: number;
  maxCircuitsPerPeer: number;
  circuitDurationMs: number;
  circuitBytes: bigint;
  reservationTtlMs: number;
  statusIntervalMs: number;
  joinWindowMs: number;
  log: (message: string) => void;
}

export function resolveRelayConfig(config: RelayConfig): ResolvedRelayConfig {
  if (typeof config !== 'object' || config === null) throw new NodeConfigError('RelayConfig must be an object');
  if (typeof config.stateFile !== 'string' || config.stateFile.length === 0) throw new NodeConfigError('stateFile: give the path of the relay state file');
  const listen = parseAddresses('listenAddresses', config.listenAddresses ?? [...DEFAULT_RELAY_LISTEN_ADDRESSES]);
  if (listen.length === 0) throw new NodeConfigError('listenAddresses: give at least one address to listen on');
  const admit = config.admit ?? [];
  if (!Array.isArray(admit)) throw new NodeConfigError('admit must be an array of peer ids');
  for (const peerId of admit) if (typeof peerId !== 'string' || !isPeerId(peerId)) throw new NodeConfigError(`admit: ${JSON.stringify(peerId)} is not a peer id`);
  const limits = config.limits ?? {};
  const bytes = limits.circuitBytes ?? DEFAULT_CIRCUIT_BYTES;
  if ((typeof bytes !== 'bigint' && !Number.isSafeInteger(bytes)) || BigInt(bytes) <= 0n) throw new NodeConfigError(`limits.circuitBytes must be a positive integer, got ${String(bytes)}`);
  return {
    stateFile: config.stateFile,
    listenAddresses: listen,
    announceAddresses: parseAddresses('announceAddresses', config.announceAddresses ?? []),
    admit,
    maxReservations: count('limits.maxReservations', limits.maxReservations ?? DEFAULT_MAX_RESERVATIONS),
    maxCircuitsPerPeer: count('limits.maxCircuitsPerPeer', limits.maxCircuitsPerPeer ?? DEFAULT_MAX_CIRCUITS_PER_PEER),
    circuitDurationMs: count('limits.circuitDurationMs', limits.circuitDurationMs ?? DEFAULT_CIRCUIT_DURATION_MS),
    circuitBytes: BigInt(bytes),
    reservationTtlMs: count('limits.reservationTtlMs', limits.reservationTtlMs ?? DEFAULT_RESERVATION_TTL_MS),
    statusIntervalMs: nonNegative('statusIntervalMs', config.statusIntervalMs ?? DEFAULT_STATUS_INTERVAL_MS),
    joinWindowMs: count('joinWindowMs', config.joinWindowMs ?? STRANGER_WINDOW_MS),
    log: config.log ?? (() => {}),
  };
}

function count(field: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new NodeConfigError(`${field} must be a positive integer, got ${value}`);
  return value;
}
