/**
 * One node per database, whatever path names it. A node (start, the daemon, pair, join) holds an
 * exclusive SQLite lock on a small lock file for as long as it runs; the OS releases the lock when
 * the process ends, a SIGKILL or a crash included, so there is no stale state to clean up.
 *
 * The lock is taken twice, on two keys of the real file (docs/decisions.md, "One node per database"):
 * - `<real path>.ahenk.lock`, next to the file that symlinks, `..`, relative paths and `/tmp` against
 *   `/private/tmp` all resolve to, and independent of any environment variable;
 * - `<temp folder>/ahenk-locks-<uid>/<dev>-<inode>.lock`, the file's identity, which a hard link or a
 *   bind mount shares although their paths differ.
 */
import { lstatSync, mkdirSync, realpathSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openConnection, type AdapterName, type SqliteConnection } from '../sqlite/index.ts';
import { CommandFailedError } from './errors.ts';

export interface NodeLock {
  /** Releases the lock (closing its connections); the lock files stay, empty of meaning. */
  release(): void;
}

/**
 * Takes the node lock of `database` (an existing file), or throws a CommandFailedError saying
 * another node holds it; `holder` names that node when the caller knows it (from the pid file).
 */
export function lockNode(database: string, adapter: AdapterName, holder: () => string | undefined): NodeLock {
  const held: SqliteConnection[] = [];
  const release = (): void => {
    for (const connection of held.splice(0)) connection.close();
  };
  try {
    for (const path of lockPaths(database)) {
      const connection = holdExclusive(path, adapter);
      if (connection === undefined) {
        const who = holder();
        throw new CommandFailedError(
          who ?? `another Ahenk node is already running on ${database} (the same file, perhaps by another name: a symlink, a hard link, a bind mount); stop it first`,
        );
      }
      held.push(connection);
    }
  } catch (error) {
    release();
    throw error;
  }
  return { release };
}

/** The two lock files of a database (the second only where a per-user temp folder can be made). */
export function lockPaths(database: string): string[] {
  const real = realpathSync.native(database);
  const { dev, ino } = statSync(real, { bigint: true });
  const paths = [`${real}.ahenk.lock`];
  const folder = join(tmpdir(), `ahenk-locks-${process.getuid?.() ?? 'user'}`);
  try {
    mkdirSync(folder, { recursive: true, mode: 0o700 });
    if (isPrivateFolder(folder)) paths.push(join(folder, `${dev}-${ino}.lock`));
  } catch {
    // A temp folder this user cannot write: the lock next to the real path still holds every spelling but a hard link's.
  }
  return paths;
}

/**
 * Whether `folder` is this user's own folder that no one else may write. The temp folder is shared:
 * another user may have made the folder first (mkdir then succeeds on it), or made it a symlink, and
 * planted a symlink named like a lock file there, which SQLite would open, write and hold. Such a
 * folder is not used (the lock next to the real path still holds).
 */
function isPrivateFolder(folder: string): boolean {
  const stat = lstatSync(folder);
  const uid = process.getuid?.();
  return stat.isDirectory() && (uid === undefined || stat.uid === uid) && (stat.mode & 0o022) === 0;
}

/**
 * An exclusive lock on `path` held until the connection closes (SQLite's EXCLUSIVE locking mode keeps
 * the lock that BEGIN EXCLUSIVE takes), or undefined when another process or connection holds it.
 * Nothing is written (SQLite writes the header of a new, empty file once): a write per start cost a
 * sync of the file each time (about 30 ms per lock file on a loaded disk), and a write cut short by a
 * crash or power loss (with no journal) would leave a file SQLite cannot read, refusing every start.
 */
export function holdExclusive(path: string, adapter: AdapterName): SqliteConnection | undefined {
  let connection: SqliteConnection | undefined;
  try {
    // node:sqlite reads the schema while opening: a held lock answers busy there, at once with no wait.
    connection = openConnection(path, { adapter, busyTimeoutMs: 0 });
    connection.exec('PRAGMA locking_mode = EXCLUSIVE');
    connection.exec('BEGIN EXCLUSIVE');
    connection.exec('COMMIT');
    return connection;
  } catch (error) {
    connection?.close();
    if (isBusy(error)) return undefined;
    throw error;
  }
}

function isBusy(error: unknown): boolean {
  const { code, errcode } = error as { code?: unknown; errcode?: unknown };
  // better-sqlite3 names the code; node:sqlite gives the number (SQLITE_BUSY = 5, SQLITE_LOCKED = 6).
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED' || (typeof errcode === 'number' && [5, 6].includes(errcode & 0xff));
}
