// The sync session's store over an Ahenk database, and runSyncSession on it.
export { runSyncSession } from './run.ts';
export { SqliteSyncStore } from './sqlite-store.ts';
export { OplogWatcher } from './watcher.ts';
