/**
 * A --db path the command cannot use is one line that says what is wrong and what to do, with the
 * same exit code from every command: a missing folder (no database there, exit 2) and a folder this
 * user cannot write (exit 1; SQLite needs it for its -wal and -shm files even to read). The tests run
 * as root, whom permission bits do not stop: the permission case runs the CLI as `nobody` (setpriv),
 * the read-only file system case in a private mount namespace with the folder bound read-only.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/main.ts';
import { BIN, cli, LOOPBACK, tempDir } from './helpers.ts';

const NOBODY = ['--reuid=nobody', '--regid=nogroup', '--clear-groups'];

/** Why the CLI cannot be run as an unprivileged user here, or undefined when it can. */
function cannotDropPrivileges(): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root (setpriv needs it; a non-root user is already stopped by permission bits)';
  const probe = spawnSync('setpriv', [...NOBODY, process.execPath, '-e', 'process.exit(process.getuid() === 0 ? 1 : 0)'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) return `setpriv cannot run node as nobody: ${probe.error?.message ?? probe.stderr.trim()}`;
  return undefined;
}

/** Runs `node bin/ahenk.js ...args` as the user nobody. */
function asNobody(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync('setpriv', [...NOBODY, process.execPath, BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Runs `node bin/ahenk.js ...args` in a private mount namespace where `folder` is mounted read-only. */
function onReadOnlyMount(folder: string, args: string[]): { code: number | null; stdout: string; stderr: string; setup: string } {
  const script = 'mount --make-rprivate / && mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" || exit 97; shift; exec "$@"';
  const result = spawnSync('unshare', ['-m', 'sh', '-c', script, 'sh', folder, process.execPath, BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr, setup: result.error?.message ?? (result.status === 97 ? result.stderr : '') };
}

describe('a --db path the command cannot use', () => {
  it('a folder that does not exist is "no database at", exit 2, for start as for every other command', async () => {
    const missing = join(tempDir(), 'nope', 'notes.db');
    const expected = `ahenk: no database at ${missing}; create one with: ahenk init --db ${missing}\n`;
    for (const argv of [['start'], ['start', '--detach'], ['status'], ['device', 'list'], ['pair', '--yes']]) {
      const result = await cli([...argv, '--db', missing, ...(argv[0] === 'start' || argv[0] === 'pair' ? LOOPBACK : [])]);
      expect({ argv, code: result.code, first: result.stderr.split('\n')[0] + '\n' }).toEqual({ argv, code: EXIT.usage, first: expected });
    }
    expect(existsSync(join(missing, '..'))).toBe(false);
  });

  it('a folder this user cannot write is said to be one, with what to do, by status, device list and start (detached or not)', async (context) => {
    const reason = cannotDropPrivileges();
    if (reason !== undefined) {
      console.warn(`skipped: ${reason}`);
      context.skip();
    }
    const root = tempDir();
    const folder = join(root, 'read-only');
    mkdirSync(folder);
    const db = join(folder, 'notes.db');
    expect((await cli(['init', '--db', db])).code).toBe(0);
    // The database file is nobody's to write; its folder (root's, 0755) is not.
    for (const name of readdirSync(folder)) if (name !== 'notes.db') rmSync(join(folder, name));
    chownSync(db, 65534, 65534);
    chmodSync(root, 0o755);
    const expected =
      `ahenk: cannot use ${db}: its folder ${folder} is not writable by this user (EACCES); SQLite writes its -wal and -shm files next to the database, even to read it. ` +
      `Make the folder writable (chmod u+w ${folder}, or ask its owner), or move the database to a folder you can write\n`;
    for (const argv of [['status'], ['device', 'list'], ['start', '--detach', ...LOOPBACK], ['start', ...LOOPBACK]]) {
      const result = asNobody([...argv, '--db', db]);
      expect({ argv, code: result.code, stderr: result.stderr }).toEqual({ argv, code: EXIT.failure, stderr: expected });
    }
    expect(readdirSync(folder)).toEqual(['notes.db']);
    // Four CLI processes as a new user, each compiling the sources afresh in a checkout.
  }, 120_000);

  it('a folder on a read-only file system is said to be one (EROFS), with what to do', async (context) => {
    const folder = join(tempDir(), 'mounted');
    mkdirSync(folder);
    const db = join(folder, 'notes.db');
    expect((await cli(['init', '--db', db])).code).toBe(0);
    const result = onReadOnlyMount(folder, ['status', '--db', db]);
    if (result.setup !== '') {
      console.warn(`skipped: cannot mount a folder read-only in a private mount namespace here: ${result.setup}`);
      context.skip();
    }
    expect(result.code).toBe(EXIT.failure);
    expect(result.stderr).toBe(
      `ahenk: cannot use ${db}: its folder ${folder} is on a read-only file system (EROFS); SQLite writes its -wal and -shm files next to the database, even to read it. ` +
        'Remount it read-write, or copy the database to a writable folder\n',
    );
  }, 60_000);
});
