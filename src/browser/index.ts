// ahenk/browser: the page's side (Drizzle over the database worker). The worker's side is
// ahenk/browser/worker.
export { openBrowserDatabase, WorkerError, type BrowserDatabase } from './page.ts';
export type { RemoteError } from './messages.ts';
export type { BrowserSync } from './page-sync.ts';
export type { BrowserInvitation, BrowserInviteOptions, BrowserJoinOptions, BrowserPairing } from './page-pairing.ts';
export type { BrowserPairingResult } from './sync-messages.ts';
export type { BrowserSyncEvents, SyncEventName } from './sync-messages.ts';
