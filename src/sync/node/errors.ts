import { AhenkError } from '../../errors.ts';

/** A `P2PConfig` value is unusable; raised by `createSyncNode` before anything starts. */
export class NodeConfigError extends AhenkError {
  constructor(message: string) {
    super('NODE_CONFIG_INVALID', message);
    this.name = 'NodeConfigError';
  }
}

/**
 * `enableMdns` was asked for on a machine whose interfaces are not an isolated test link.
 * mDNS multicasts on every interface and @libp2p/mdns cannot be limited to one, so Ahenk refuses
 * unless the caller says the network is theirs to announce on (`mdnsInterfaceCheck: false`).
 */
export class MdnsUnsafeError extends AhenkError {
  readonly interfaces: readonly string[];

  constructor(message: string, interfaces: readonly string[]) {
    super('MDNS_UNSAFE_NETWORK', message);
    this.name = 'MdnsUnsafeError';
    this.interfaces = interfaces;
  }
}

/** A peer that is not on this user's device list (or was revoked) tried to sync. */
export class UnauthorizedPeerError extends AhenkError {
  readonly peerId: string;

  constructor(peerId: string) {
    super('PEER_UNAUTHORIZED', `peer ${peerId} is not an authorized device of this user`);
    this.name = 'UnauthorizedPeerError';
    this.peerId = peerId;
  }
}

/** The node was stopped (or never started) when an operation needed it running. */
export class NodeStoppedError extends AhenkError {
  constructor(message = 'the sync node is stopped') {
    super('NODE_STOPPED', message);
    this.name = 'NodeStoppedError';
  }
}

/** The port asked for by name (`port`, `--port`) is held by another program; a kept port falls back instead. */
export class ListenPortInUseError extends AhenkError {
  readonly port: number;

  constructor(port: number, message = `cannot listen on port ${port}: another program is using it`) {
    super('LISTEN_PORT_IN_USE', message);
    this.name = 'ListenPortInUseError';
    this.port = port;
  }
}

/** Why a relay did not admit this device when it presented a join token (`joinRelay`). */
export type RelayAdmissionRefusal = 'WRONG_TOKEN' | 'RATE_LIMITED' | 'REVOKED' | 'FULL' | 'BAD_REQUEST' | 'UNREACHABLE' | 'PROTOCOL';

/** A relay refused a join token, or could not be asked; `reason` says which. */
export class RelayAdmissionError extends AhenkError {
  readonly reason: RelayAdmissionRefusal;

  constructor(reason: RelayAdmissionRefusal, message: string, options?: { cause?: unknown }) {
    super('RELAY_ADMISSION_REFUSED', message, options);
    this.name = 'RelayAdmissionError';
    this.reason = reason;
  }
}

/**
 * Sync has waited long for a transaction someone else holds open on the database's connection (a
 * browser tab between BEGIN and COMMIT): nothing is received or sent until it ends. Reported once
 * per stretch of waiting; sync goes on by itself once the transaction ends (or its tab goes away).
 */
export class DatabaseBusyError extends AhenkError {
  readonly waitedMs: number;

  constructor(waitedMs: number) {
    super('DATABASE_BUSY', `sync has waited ${Math.round(waitedMs / 1000)} s for a transaction held open on the database (a tab between BEGIN and COMMIT); it goes on once that ends`);
    this.name = 'DatabaseBusyError';
    this.waitedMs = waitedMs;
  }
}
