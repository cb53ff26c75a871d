// ahenk/browser: the page's side (Drizzle over the database worker). The worker's side is
// ahenk/browser/worker.
export { openBrowserDatabase, WorkerError, type BrowserDatabase } from './page.ts';
export type { RemoteError } from './messages.ts';
