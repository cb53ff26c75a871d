/**
 * The node lock's second key lives in a per-user folder of the shared temp folder. Another user can
 * make that folder first (or make it a symlink, or leave it writable by all) and plant a symlink named
 * like a lock file there: the lock would then open, write and hold whatever file the symlink names.
 * A folder that is not this user's own, private, real folder is not used.
 */
import { chmodSync, chownSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockNode, lockPaths } from '../../src/cli/node-lock.ts';
import { defaultAdapter, openConnection } from '../../src/sqlite/index.ts';
import { tempDir } from './helpers.ts';

const uid = process.getuid?.() ?? 0;
let savedTmpdir: string | undefined;
let temp: string;

beforeEach(() => {
  savedTmpdir = process.env.TMPDIR;
  temp = tempDir();
  process.env.TMPDIR = temp;
});
afterEach(() => {
  if (savedTmpdir === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmpdir;
});

/** A database file, and another SQLite file of the same user that a planted symlink points at. */
function files(): { db: string; victim: string; lockName: string } {
  const home = tempDir();
  const db = join(home, 'notes.db');
  writeFileSync(db, '');
  const victim = join(home, 'other.db');
  const connection = openConnection(victim);
  connection.exec('CREATE TABLE mine (x)');
  connection.close();
  const { dev, ino } = statSync(db, { bigint: true });
  return { db, victim, lockName: `${dev}-${ino}.lock` };
}

function tablesOf(path: string): string[] {
  const connection = openConnection(path, { readOnly: true });
  try {
    return (connection.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
  } finally {
    connection.close();
  }
}

/** Takes and releases the lock; the victim file must come out untouched. */
function lockAndCheck(db: string, victim: string): void {
  const lock = lockNode(db, defaultAdapter(), () => undefined);
  lock.release();
  expect(tablesOf(victim)).toEqual(['mine']);
}

describe('the per-user lock folder', () => {
  it('is made private to this user and used', () => {
    const { db } = files();
    const folder = join(temp, `ahenk-locks-${uid}`);
    expect(lockPaths(db)).toEqual([`${db}.ahenk.lock`, join(folder, `${statSync(db, { bigint: true }).dev}-${statSync(db, { bigint: true }).ino}.lock`)]);
    const stat = lstatSync(folder);
    expect([stat.isDirectory(), stat.uid, stat.mode & 0o777]).toEqual([true, uid, 0o700]);
  });

  it('is not used when others may write it (a symlink planted there is not written through)', () => {
    const { db, victim, lockName } = files();
    const folder = join(temp, `ahenk-locks-${uid}`);
    mkdirSync(folder);
    chmodSync(folder, 0o777);
    symlinkSync(victim, join(folder, lockName));
    lockAndCheck(db, victim);
    expect(lockPaths(db)).toEqual([`${db}.ahenk.lock`]);
  });

  it('is not used when it is a symlink to a folder someone else chose', () => {
    const { db, victim, lockName } = files();
    const elsewhere = tempDir();
    symlinkSync(victim, join(elsewhere, lockName));
    symlinkSync(elsewhere, join(temp, `ahenk-locks-${uid}`));
    lockAndCheck(db, victim);
    expect(lockPaths(db)).toEqual([`${db}.ahenk.lock`]);
  });

  it.runIf(uid === 0)('is not used when another user made it, even with owner-only permissions', () => {
    const { db, victim, lockName } = files();
    const folder = join(temp, `ahenk-locks-${uid}`);
    mkdirSync(folder, { mode: 0o700 });
    symlinkSync(victim, join(folder, lockName));
    chownSync(folder, 65534, 65534);
    lockAndCheck(db, victim);
    expect(lockPaths(db)).toEqual([`${db}.ahenk.lock`]);
  });
});

describe('taking the node lock', () => {
  it('writes nothing to a lock file that is already there (no sync per start, no write a crash could cut short)', () => {
    const { db } = files();
    const paths = lockPaths(db);
    lockNode(db, defaultAdapter(), () => undefined).release();
    const before = paths.map((path) => readFileSync(path));
    const lock = lockNode(db, defaultAdapter(), () => undefined);
    try {
      // Still exclusive: a second taker is refused while the first holds it.
      expect(() => lockNode(db, defaultAdapter(), () => 'taken')).toThrow('taken');
    } finally {
      lock.release();
    }
    expect(paths.map((path) => readFileSync(path))).toEqual(before);
    // No journal left beside the lock files.
    expect(readdirSync(dirname(db)).filter((name) => name.includes('journal'))).toEqual([]);
  });
});
