/**
 * What initializeDatabase does with the file system on Node: check an app's migrations folder,
 * create a database file atomically, and remove one this call made. The browser build replaces
 * this module (scripts/build-browser.mjs): a page opens OPFS through a connection and passes its
 * migrations as data, so it never names a file or a folder.
 */
import { closeSync, existsSync, openSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MigrationsFolderError } from '../errors.ts';

/** drizzle's own message ("Can't find meta/_journal.json file") names no folder: say which one was looked in. */
export function checkMigrationsFolder(folder: string): void {
  if (typeof folder !== 'string' || folder === '') throw new TypeError('migrationsFolder: expected the path of a drizzle-kit migrations folder');
  const resolved = resolve(folder);
  const journal = join(resolved, 'meta', '_journal.json');
  if (existsSync(journal)) return;
  const where = resolved === folder ? resolved : `${resolved} ("${folder}" resolved against the working directory ${process.cwd()})`;
  const what = existsSync(resolved) ? `has no meta/_journal.json` : 'does not exist';
  throw new MigrationsFolderError(resolved, `migrationsFolder ${where} ${what}: give the folder drizzle-kit generates into (the "out" of drizzle.config.ts)`);
}

/**
 * Creates `path` as an empty file (an empty SQLite database) if nothing is there, atomically: true when
 * this call made it. A check-then-open would take a file another process creates in between (or a
 * symlink, which existsSync follows) for its own and, on failure, delete it with its -wal and -shm.
 */
export function createExclusively(path: string): boolean {
  try {
    closeSync(openSync(path, 'wx', 0o644));
    return true;
  } catch {
    // There already (EEXIST), or SQLite's open reports why it cannot be made.
    return false;
  }
}

/** Removes a database file with its -wal, -shm and -journal (a file this process made and could not finish). */
export function removeDatabaseFiles(path: string): void {
  for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(`${path}${suffix}`, { force: true });
}
