// Public API of ahenk (what README.md's API section lists, and the error classes): re-exports only,
// by explicit name. The sync session over any channel is `ahenk/transport`; table definitions `ahenk/schema`.
export {
  AhenkError,
  AuthError,
  DatabaseError,
  DeviceKeyError,
  InvalidCursorError,
  InvalidEntryError,
  MigrationsFolderError,
  ResolverError,
  SchemaError,
  StorageError,
  type StorageErrorCode,
} from './errors.ts';
export {
  defineSyncedTable,
  getSyncedTableMeta,
  isSyncedTable,
  MAX_SYNCED_COLUMNS,
  type SyncedTableMeta,
  type SyncedTableOptions,
} from './schema/index.ts';
export {
  ClockDriftError,
  compareHlc,
  DEFAULT_MAX_DRIFT_MS,
  formatHlc,
  HybridLogicalClock,
  parseHlc,
  type HybridLogicalClockOptions,
  type PackedHlc,
} from './clock/index.ts';
export type { CaptureInstallReport } from './capture/install.ts';
export { compactOplog, type CompactionOptions, type CompactionReport } from './oplog/compact.ts';
export {
  getSchemaVersion,
  initializeDatabase,
  KNOWN_SCHEMA_VERSION,
  migrateDatabase,
  type AhenkDatabase,
  type InitializeOptions,
  type MigrateOptions,
} from './database/initialize.ts';
export { getDeviceId, readRevocationNotice, resetIdentity, type ResetIdentityResult, type RevocationNotice } from './database/identity.ts';
export type { DatabaseHandle } from './sqlite/index.ts';
export { SqliteConnection, type AdapterName, type SqliteStatement, type SqlRow, type SqlRunResult, type StatementOptions } from './sqlite/index.ts';
export { getOplogEntriesSince } from './database/exchange.ts';
export type { ExportOptions, OplogExport } from './oplog/export.ts';
export { merge, retryQuarantined, type MergeOptions, type MergeResult, type QuarantinedEntry, type RetryOptions, type RetryResult } from './merge/merge.ts';
export { countQuarantined, QUARANTINE_LIMITS, QuarantineFullError, type QuarantineReason } from './merge/quarantine.ts';
export { getClockDrift, type ClockDriftReport, type HeldForDrift, type PeerDriftNotice } from './merge/drift.ts';
export { ENTRY_LIMITS, type CellGroup, type OplogEntry, type OpType } from './oplog/entry.ts';
export {
  checkResolver,
  max,
  min,
  union,
  type BuiltinResolverName,
  type Resolver,
  type ResolverCheck,
  type ResolverSpec,
} from './schema/resolvers.ts';
export type { SqlValue } from './sqlite/values.ts';
export { buildOplogEntry, localApply, type BuildOplogEntryOptions, type OplogOperation } from './merge/manual.ts';
export {
  addDeviceToUser,
  AUTH_LIMITS,
  authorizeDevice,
  getUserDevices,
  isAuthorizedPeer,
  loginUser,
  PASSWORD_HASH_OPTIONS,
  registerUser,
  revokeDevice,
  type AuthorizeDeviceInput,
  type Device,
  type User,
} from './auth/index.ts';
export {
  decodePairingQr,
  DEFAULT_PAIRING_TTL_MS,
  PAIRING_LIMITS,
  PairingError,
  decodePairingInvitation,
  type PairingInvitation,
  type PairingChallenge,
  type PairingErrorCode,
} from './auth/pairing/index.ts';
export {
  acceptInvitation,
  AuthorizerWorkflow,
  InviteeWorkflow,
  NewDeviceWorkflow,
  type AcceptInvitationOptions,
  type InviteeOptions,
  type AuthorizerOptions,
  type NewDeviceOptions,
  type PairedDevice,
  type PairingResult,
} from './sync/pairing/index.ts';
export {
  createSwarm,
  createSyncNode,
  DatabaseBusyError,
  ListenPortInUseError,
  MdnsUnsafeError,
  NodeConfigError,
  NodeStoppedError,
  RelayAdmissionError,
  type RelayAdmissionRefusal,
  SyncNode,
  UnauthorizedPeerError,
  type ClockDriftEvent,
  type ConnectedPeer,
  type DialFailure,
  type DeviceRevokedEvent,
  type KnownPeer,
  type ListenPort,
  type NetworkChangeEvent,
  type P2PConfig,
  type PeerConnectEvent,
  type PeerDisconnectEvent,
  type PeerDiscoveryEvent,
  type PeerUnreachableEvent,
  type PeerPath,
  type PeerDirectFailedEvent,
  type PeerPathEvent,
  type SyncCompleteEvent,
  type SyncErrorEvent,
  type SyncNodeEventName,
  type SyncNodeEvents,
  type SyncNodeListener,
  type SyncProgressEvent,
  type SyncStartEvent,
} from './sync/node/index.ts';
export { createRelayNode, joinRelay, RelayNode, type AdmittedPeer, type JoinRelayOptions, type RelayConfig, type RelayLimits, type RelayStats } from './sync/relay/index.ts';
// The session, channels and protocol constants are under `ahenk/transport` (src/transport.ts).
export {
  FrameTimeoutError,
  FrameTooLargeError,
  ProtocolError,
  RemoteError,
  UnsupportedVersionError,
  type ProtocolErrorCode,
} from './sync/protocol/index.ts';
