// The sync session's store over an Ahenk database, and runSyncSession on it.
export { runSyncSession, type DatabaseSessionOptions } from './run.ts';
export { SqliteSyncStore, type BatchDrift, type SqliteStoreOptions } from './sqlite-store.ts';
export { OplogWatcher } from './watcher.ts';
