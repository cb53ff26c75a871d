/**
 * One node per database, whatever path names it: a symlink, a hard link, a relative or absolute
 * spelling of a database that a node runs on is refused (exit 1, one clear line), and the OS lock
 * goes with the node's process, so after a SIGKILL a new node starts at once.
 */
import { spawnSync } from 'node:child_process';
import { linkSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodePairingQr } from '../../src/auth/pairing/challenge.ts';
import { EXIT } from '../../src/cli/main.ts';
import { lockNode } from '../../src/cli/node-lock.ts';
import { defaultAdapter } from '../../src/sqlite/index.ts';
import { BIN, cli, LOOPBACK, spawnCli, tempDir } from './helpers.ts';

/** A folder L holding an Ahenk database notes.db, and the folder above it. */
async function notesDatabase(): Promise<{ root: string; db: string }> {
  const root = tempDir();
  mkdirSync(join(root, 'L'));
  const db = join(root, 'L', 'notes.db');
  expect((await cli(['init', '--db', db])).code).toBe(0);
  return { root, db };
}

/** A second node that did start (the bug) runs until stopped: it is stopped after this long, and fails the test. */
const REGRESSION_MS = 15_000;

/** A node process starts in 1-5 s here; a machine busy with other suites takes longer. */
const START_MS = 60_000;

/** A process's stderr without Node's own warnings (Node 22 warns that node:sqlite is experimental). */
function withoutNodeWarnings(stderr: string): string {
  return stderr.replace(/^\(node:\d+\) \w*Warning: .*\n(\(Use `node --trace-warnings .*\n)?/gm, '');
}

function pidIn(db: string): number {
  return Number(readFileSync(`${db}.ahenk.pid`, 'utf8').trim());
}

describe('one node per database', () => {
  it('refuses a second node on the file by a symlink, a hard link, or a relative spelling, while a daemon runs', async () => {
    const { root, db } = await notesDatabase();
    const started = await cli(['start', '--detach', '--db', db, ...LOOPBACK]);
    expect(started.code).toBe(0);
    const pid = pidIn(db);
    try {
      const symlink = join(root, 'link.db');
      symlinkSync(db, symlink);
      mkdirSync(join(root, 'elsewhere'));
      const hardLink = join(root, 'elsewhere', 'hard.db');
      linkSync(db, hardLink);
      const running = `ahenk: a daemon is already running for ${db} (pid ${pid}); stop it with: ahenk stop --db ${db}\n`;

      // The symlink and the relative spelling resolve to the real path, so the daemon is named.
      for (const [argv, cwd] of [
        [['start', '--db', symlink], root],
        [['start', '--detach', '--db', symlink], root],
        [['start', '--db', 'link.db'], root],
        [['start', '--db', '../L/notes.db'], join(root, 'elsewhere')],
        [['start', '--db', 'notes.db'], join(root, 'L')],
      ] as const) {
        const second = await cli([...argv, ...LOOPBACK], { cwd, signal: AbortSignal.timeout(REGRESSION_MS) });
        expect({ argv, code: second.code, stderr: second.stderr }).toEqual({ argv, code: EXIT.failure, stderr: running });
      }
      // A hard link has another path and the same file: refused by the file's identity.
      for (const argv of [['start', '--db', hardLink], ['start', '--detach', '--db', hardLink], ['pair', '--db', hardLink, '--yes']]) {
        const second = await cli([...argv, ...LOOPBACK], { signal: AbortSignal.timeout(REGRESSION_MS) });
        expect(second.code).toBe(EXIT.failure);
        expect(second.stderr).toBe(
          `ahenk: another Ahenk node is already running on ${hardLink} (the same file, perhaps by another name: a symlink, a hard link, a bind mount); stop it first\n`,
        );
      }
      // pair and join run a node too.
      expect((await cli(['pair', '--db', symlink, '--yes', ...LOOPBACK])).stderr).toBe(running);
      const code = encodePairingQr({ authorizer: /12D3KooW\w+/.exec(started.stdout)![0], addresses: ['/ip4/127.0.0.1/tcp/9'], nonce: 'A'.repeat(43), expiresAt: Date.now() + 60_000, signature: 'x' });
      expect((await cli(['join', code, '--db', symlink, '--device-type', 'phone', ...LOOPBACK])).stderr).toBe(running);
      // status and stop find the daemon by any spelling that resolves to the file.
      expect((await cli(['status', '--db', symlink])).stdout).toContain(`Daemon:         running (pid ${pid})`);
      expect((await cli(['stop', '--db', symlink])).code).toBe(0);
    } finally {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already stopped
      }
    }
  }, 180_000);

  it('a daemon that finds the file taken does not name itself as the running daemon', async () => {
    // start --detach checks the lock, lets go of it, spawns the daemon and writes the daemon's pid
    // file; a node that takes the lock in between (here by a hard link) makes the daemon fail. Its
    // pid file then names the daemon itself, which must not be reported as "a daemon is already running".
    const { root, db } = await notesDatabase();
    const hardLink = join(root, 'hard.db');
    linkSync(db, hardLink);
    const other = lockNode(db, defaultAdapter(), () => undefined);
    try {
      // The shell writes its own pid, then becomes the daemon (exec keeps the pid), as start --detach arranges.
      const daemon = spawnSync('sh', ['-c', 'echo $$ > "$1"; shift; exec "$@"', 'sh', `${hardLink}.ahenk.pid`, process.execPath, BIN, 'start', '--db', hardLink, ...LOOPBACK], {
        env: { ...process.env, AHENK_DAEMON: '1' },
        encoding: 'utf8',
        timeout: START_MS,
      });
      expect({ code: daemon.status, stderr: withoutNodeWarnings(daemon.stderr) }).toEqual({
        code: EXIT.failure,
        stderr: `ahenk: another Ahenk node is already running on ${hardLink} (the same file, perhaps by another name: a symlink, a hard link, a bind mount); stop it first\n`,
      });
    } finally {
      other.release();
    }
  }, 120_000);

  it('a node killed with SIGKILL leaves no lock behind: a new node starts at once, by any name', async () => {
    const { root, db } = await notesDatabase();
    const hardLink = join(root, 'hard.db');
    linkSync(db, hardLink);
    const first = spawnCli(['start', '--db', db, ...LOOPBACK]);
    await first.line(/listening on/, START_MS);
    const refused = await cli(['start', '--db', hardLink, ...LOOPBACK], { signal: AbortSignal.timeout(REGRESSION_MS) });
    expect(refused.code).toBe(EXIT.failure);
    first.child.kill('SIGKILL');
    await first.exited;
    // Its pid file is left behind (it had no chance to remove it); the lock went with the process.
    expect(pidIn(db)).toBe(first.child.pid);
    const second = spawnCli(['start', '--db', hardLink, ...LOOPBACK]);
    await second.line(/listening on/, START_MS);
    expect(withoutNodeWarnings(second.stderr())).toBe('');
    const third = await cli(['start', '--db', db, ...LOOPBACK], { signal: AbortSignal.timeout(REGRESSION_MS) });
    expect(third.code).toBe(EXIT.failure);
    expect(third.stderr).toContain('another Ahenk node is already running');
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, 180_000);
});
