/**
 * The background daemon: `start --detach` leaves a real `ahenk start` process running on a temp
 * database (loopback only), `logs` reads its log, `stop` ends it. Commands run in-process through
 * run() where they can (fast); the daemon is always a real process, killed after each test.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodePairingQr } from '../../src/auth/pairing/challenge.ts';
import { EXIT } from '../../src/cli/main.ts';
import { cli, LOOPBACK, spawnCli, tempDir } from './helpers.ts';

const databases: string[] = [];

afterEach(() => {
  for (const db of databases.splice(0)) {
    const pid = pidIn(db);
    // Only a process running on this test's database: a test may leave its own pid in the file.
    if (pid !== undefined && pid !== process.pid && alive(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(db)) process.kill(pid, 'SIGKILL');
  }
});

async function newDatabase(): Promise<string> {
  const db = join(tempDir(), 'a.db');
  databases.push(db);
  expect((await cli(['init', '--db', db])).code).toBe(0);
  return db;
}

function pidIn(db: string): number | undefined {
  try {
    return Number(readFileSync(`${db}.ahenk.pid`, 'utf8').trim());
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // An exited child of this process not yet reaped is a zombie: gone for our purposes.
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Live processes whose command line names `db` (on Linux, from /proc). */
function processesOn(db: string): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => {
      try {
        return alive(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(db);
      } catch {
        return false;
      }
    });
}

/** The pid of a process that has exited (so the pid names nothing, as in a pid file left by a crash). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

describe('ahenk start --detach, logs, stop', () => {
  it('runs the node in the background until stop, refuses a second node, and prints and follows its log', async () => {
    const db = await newDatabase();
    const started = await cli(['start', '--detach', '--db', db, ...LOOPBACK]);
    expect(started.stderr).toBe('');
    expect(started.code).toBe(0);
    const pid = pidIn(db)!;
    expect(started.stdout).toContain(`(pid ${pid})`);
    expect(started.stdout).toContain(`${db}.ahenk.log`);
    expect(started.stdout).toMatch(/^Listening on \/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3KooW/m);
    expect(alive(pid)).toBe(true);
    // The daemon's log is pino's JSON lines: level by name, ISO time, pid, the event, the text as msg.
    const first = readFileSync(`${db}.ahenk.log`, 'utf8').split('\n').find((l) => l.includes('"start"'))!;
    expect(JSON.parse(first)).toMatchObject({ level: 'info', time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), pid, event: 'start', msg: expect.stringMatching(/^started 12D3KooW/) });

    // A second node on the same database would be the same device twice: refused, detached or not.
    const again = await cli(['start', '--detach', '--db', db, ...LOOPBACK]);
    expect(again.code).toBe(EXIT.failure);
    expect(again.stderr).toBe(`ahenk: a daemon is already running for ${db} (pid ${pid}); stop it with: ahenk stop --db ${db}\n`);
    expect(pidIn(db)).toBe(pid);
    expect((await cli(['start', '--db', db, ...LOOPBACK])).code).toBe(EXIT.failure);
    // pair and join start a node too.
    expect((await cli(['pair', '--db', db, '--yes', ...LOOPBACK])).stderr).toContain('a daemon is already running');
    const someone = /12D3KooW\w+/.exec(started.stdout)![0];
    const code = encodePairingQr({ authorizer: someone, addresses: ['/ip4/127.0.0.1/tcp/9'], nonce: 'A'.repeat(43), expiresAt: Date.now() + 60_000, signature: 'unchecked-before-the-daemon-check' });
    expect((await cli(['join', code, '--db', db, '--device-type', 'phone', ...LOOPBACK])).stderr).toContain('a daemon is already running');
    expect((await cli(['status', '--db', db])).stdout).toContain(`Daemon:         running (pid ${pid})`);

    const logs = await cli(['logs', '--db', db, '--lines', '1']);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toMatch(/^\S+ INFO  listening on \/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\S+\n$/);
    const raw = await cli(['logs', '--db', db, '--lines', '1', '--json']);
    expect(JSON.parse(raw.stdout)).toMatchObject({ level: 'info', event: 'listen', msg: expect.stringMatching(/^listening on /) });

    // Follow the log while the daemon stops: its last lines arrive, then the signal ends logs with 0.
    const quit = new AbortController();
    const following = cli(['logs', '--db', db, '--follow', '--lines', '0'], { signal: quit.signal, onStdout: (text) => text.includes(' stopped') && quit.abort() });
    const stopped = await cli(['stop', '--db', db]);
    expect(stopped).toEqual({ code: 0, stdout: `Stopped the daemon for ${db} (pid ${pid}).\n`, stderr: '' });
    const followed = await following;
    expect(followed.code).toBe(0);
    expect(followed.stdout).toMatch(/^\S+ INFO  stopping\n\S+ INFO  stopped\n$/);

    expect(alive(pid)).toBe(false);
    expect(existsSync(`${db}.ahenk.pid`)).toBe(false);
    expect((await cli(['status', '--db', db])).stdout).toContain('Daemon:         not running');
    const none = await cli(['stop', '--db', db]);
    expect(none.code).toBe(EXIT.failure);
    expect(none.stderr).toBe(`ahenk: no daemon is running for ${db}\n`);
  });

  it('replaces a stale pid file, and never takes a live process that is not its daemon for one', async () => {
    const db = await newDatabase();
    const pidFile = `${db}.ahenk.pid`;
    const dead = await deadPid();
    writeFileSync(pidFile, `${dead}\n`);
    const stop = await cli(['stop', '--db', db]);
    expect(stop.code).toBe(EXIT.failure);
    expect(stop.stderr).toContain(`removed a stale pid file naming pid ${dead}`);
    expect(existsSync(pidFile)).toBe(false);

    // This test's own process is alive but is no `ahenk start --db <db>`: stale as well, and not signalled.
    writeFileSync(pidFile, `${process.pid}\n`);
    expect((await cli(['status', '--db', db])).stdout).toContain('Daemon:         not running');
    const started = await cli(['start', '--detach', '--db', db, ...LOOPBACK]);
    expect(started.code).toBe(0);
    const pid = pidIn(db)!;
    expect(pid).not.toBe(process.pid);
    expect(alive(pid)).toBe(true);
    expect((await cli(['stop', '--db', db])).code).toBe(0);
    expect(alive(pid)).toBe(false);
  });

  it('works as a real `ahenk start --detach --json` process, and a daemon that fails to start reports why', async () => {
    const db = await newDatabase();
    const bad = spawnCli(['start', '--detach', '--db', db, '--listen', 'localhost:80']);
    expect(await bad.exited).toBe(EXIT.usage);
    expect(bad.stderr()).toContain('--listen: "localhost:80" is not a valid multiaddr');
    expect(existsSync(`${db}.ahenk.pid`)).toBe(false);

    const detached = spawnCli(['start', '--detach', '--db', db, ...LOOPBACK, '--json']);
    expect(await detached.exited).toBe(0);
    const report = JSON.parse(detached.stdout()) as { pid: number; logFile: string; addresses: string[]; deviceId: string };
    expect(report.pid).toBe(pidIn(db));
    expect(alive(report.pid)).toBe(true);
    expect(report.addresses).toEqual([expect.stringMatching(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3KooW/)]);
    const lines = readFileSync(report.logFile, 'utf8').trim().split('\n').filter((l) => l.startsWith('{'));
    const objects = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    // The failed daemon said why in the log too, as its last word; the second one started.
    expect(objects[0]).toMatchObject({ level: 'fatal', event: 'fatal', msg: expect.stringContaining('--listen: "localhost:80" is not a valid multiaddr') });
    expect(objects.find((o) => o.event === 'start')).toMatchObject({ level: 'info', deviceId: report.deviceId });

    // Stopped with a plain kill, the daemon still removes its own pid file.
    process.kill(report.pid, 'SIGTERM');
    await expect.poll(() => existsSync(`${db}.ahenk.pid`), { timeout: 5000 }).toBe(false);
  });

  it('a signal while start --detach waits for the daemon takes the daemon down too (exit 130)', async () => {
    const db = await newDatabase();
    const interrupted = await cli(['start', '--detach', '--db', db, ...LOOPBACK], { signal: AbortSignal.abort() });
    expect(interrupted.code).toBe(EXIT.interrupted);
    expect(existsSync(`${db}.ahenk.pid`)).toBe(false);
    await expect.poll(() => processesOn(db), { timeout: 5000 }).toEqual([]);
  });

  it('stop gives up after --timeout on a daemon that does not exit, and says so', async () => {
    const db = await newDatabase();
    // Stands in for a hung daemon: its command line names `start` and the database, and it ignores SIGTERM.
    const hung = spawn(process.execPath, ['-e', "process.on('SIGTERM', () => console.log('ignored')); console.log('ready'); setInterval(() => {}, 1000)", 'start', db], { stdio: ['ignore', 'pipe', 'ignore'] });
    const exited = new Promise((resolve) => hung.once('exit', resolve));
    try {
      await new Promise((resolve) => hung.stdout.once('data', resolve));
      writeFileSync(`${db}.ahenk.pid`, `${hung.pid}\n`);
      const stop = await cli(['stop', '--db', db, '--timeout', '0.3']);
      expect(stop.code).toBe(EXIT.failure);
      expect(stop.stderr).toBe(`ahenk: the daemon (pid ${hung.pid}) has not exited within 0.3 s; it may still be stopping (kill -KILL ${hung.pid} forces it)\n`);
      expect(alive(hung.pid!)).toBe(true);
      expect(pidIn(db)).toBe(hung.pid);
    } finally {
      hung.kill('SIGKILL');
      await exited;
    }
  });

  it('logs without a log file, or with a bad --lines, says so', async () => {
    const db = await newDatabase();
    const missing = await cli(['logs', '--db', db]);
    expect(missing.code).toBe(EXIT.failure);
    expect(missing.stderr).toContain(`no daemon log at ${db}.ahenk.log`);
    writeFileSync(`${db}.ahenk.log`, Array.from({ length: 80 }, (_, i) => `line ${i + 1}`).join('\n') + '\n');
    expect((await cli(['logs', '--db', db, '--lines', 'x'])).code).toBe(EXIT.usage);
    const tail = await cli(['logs', '--db', db]);
    expect(tail.stdout.split('\n').slice(0, -1)).toEqual(Array.from({ length: 50 }, (_, i) => `line ${i + 31}`));
  });

  it('a foreground start holds the database too: a second start, detached or not, is refused until it stops', async () => {
    const db = await newDatabase();
    const dir = dirname(db);
    // Named relative to its own directory: the lock must still be found by the absolute path.
    const foreground = spawnCli(['start', '--db', 'a.db', ...LOOPBACK], {}, dir);
    await foreground.line(/listening on/);
    expect(pidIn(db)).toBe(foreground.child.pid);
    const detached = await cli(['start', '--detach', '--db', db, ...LOOPBACK]);
    expect(detached.code).toBe(EXIT.failure);
    expect(detached.stderr).toContain(`(pid ${foreground.child.pid})`);
    expect((await cli(['start', '--db', db, ...LOOPBACK])).code).toBe(EXIT.failure);
    // stop ends it like a daemon, and the pid file goes with it.
    expect((await cli(['stop', '--db', db])).code).toBe(0);
    expect(await foreground.exited).toBe(0);
    expect(existsSync(`${db}.ahenk.pid`)).toBe(false);
  });
});
