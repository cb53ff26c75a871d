/**
 * A file watch for the oplog watcher (node:fs). Alone in its module so that the browser build can
 * replace it (scripts/build-browser.mjs): a worker's database is in OPFS, where nothing watches,
 * and its only writer is the worker itself, which the watcher's poll sees.
 */
import { watch } from 'node:fs';

export interface FileWatch {
  close(): void;
}

/** Calls `onEvent` when `path` changes and `onError` if the watch fails; undefined where the file cannot be watched. */
export function watchFile(path: string, onEvent: () => void, onError: () => void): FileWatch | undefined {
  try {
    const watcher = watch(path, { persistent: false }, onEvent);
    watcher.on('error', onError);
    return watcher;
  } catch {
    return undefined;
  }
}
