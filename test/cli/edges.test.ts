/**
 * The `ahenk` CLI at its edges (each found in review): a bad flag leaves nothing half-made and no
 * node running, a signal stops a command waiting on a pipe, a file that is not an Ahenk database is
 * left alone, errors stay one line, and Ctrl-C at a prompt is a cancel.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/main.ts';
import { openConnection } from '../../src/sqlite/index.ts';
import { appDatabase, BIN, cli, LOOPBACK, pairAtTerminal, PASSWORD, tempDir } from './helpers.ts';

describe('CLI edges', () => {
  it('init --user with a bad --device-type leaves no half-made account behind (a retry succeeds)', async () => {
    const db = join(tempDir(), 'a.db');
    const env = { AHENK_PASSWORD: PASSWORD };
    const first = await cli(['init', '--db', db, '--user', 'ayse', '--email', 'ayse@example.test', '--device-type', ''], { env });
    expect(first.code).not.toBe(0);
    const retry = await cli(['init', '--db', db, '--user', 'ayse', '--email', 'ayse@example.test', '--device-type', 'laptop'], { env });
    expect(retry.stderr).toBe('');
    expect(retry.code).toBe(0);
  });

  it('a failed init --user creates nothing: bob is refused on a device already on ayse\'s list, and pair still works', async () => {
    const db = join(tempDir(), 'a.db');
    const env = { AHENK_PASSWORD: PASSWORD };
    expect((await cli(['init', '--db', db, '--user', 'ayse', '--email', 'ayse@example.test'], { env })).code).toBe(0);
    const oplogBefore = (JSON.parse((await cli(['status', '--db', db, '--json'])).stdout) as { oplogEntries: number }).oplogEntries;
    const bob = await cli(['init', '--db', db, '--user', 'bob', '--email', 'bob@example.test'], { env });
    expect(bob.code).toBe(EXIT.failure);
    expect(bob.stderr).toContain('this device is already on the device list of another account (ayse)');
    expect(bob.stderr).toContain('nothing was registered');
    const status = JSON.parse((await cli(['status', '--db', db, '--json'])).stdout) as { accounts: string[]; oplogEntries: number };
    expect(status.accounts).toEqual(['ayse']);
    // Nothing of bob reached the log either, so nothing of him would sync.
    expect(status.oplogEntries).toBe(oplogBefore);
    const pair = await cli(['pair', '--db', db, '--yes', '--ttl', '0.5', ...LOOPBACK]);
    expect(pair.stderr).not.toContain('accounts');
    expect(pair.stdout).toMatch(/^ahenk-pair:1:/m);
  });

  it('pair --ttl below a millisecond is a usage error, and no node is left listening', async () => {
    const laptop = appDatabase(tempDir(), 'laptop');
    await cli(['init', '--db', laptop, '--user', 'ayse', '--email', 'ayse@example.test'], { env: { AHENK_PASSWORD: PASSWORD } });
    const servers = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap').length;
    const before = servers();
    const pair = await cli(['pair', '--db', laptop, '--ttl', '0.0001', ...LOOPBACK]);
    expect(pair.code).toBe(EXIT.usage);
    expect(pair.stderr).toContain('--ttl');
    expect(servers()).toBe(before);
  });

  it('a --sync-timeout longer than a timer can hold (2^31 ms) is a usage error, not an instant timeout', async () => {
    const phone = appDatabase(tempDir(), 'phone');
    const join = await cli(['join', 'ahenk-pair:1:x', '--db', phone, '--device-type', 'phone', '--sync-timeout', '3000000', ...LOOPBACK]);
    expect(join.code).toBe(2);
    expect(join.stderr).toContain('--sync-timeout must be at most');
  });

  it('SIGTERM stops init while it waits for a password on a pipe that stays open', async () => {
    const db = join(tempDir(), 'a.db');
    const child = spawn(process.execPath, [BIN, 'init', '--db', db, '--user', 'ayse', '--email', 'ayse@example.test'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, AHENK_PASSWORD: '' } });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))));
    try {
      await new Promise((r) => setTimeout(r, 1500));
      child.kill('SIGTERM');
      const outcome = await Promise.race([exited, new Promise((r) => setTimeout(() => r('still running'), 3000))]);
      expect(outcome).not.toBe('still running');
    } finally {
      child.kill('SIGKILL');
      child.stdin.destroy();
      await exited;
    }
  });

  it('status does not turn a file that is not an Ahenk database into one', async () => {
    const path = join(tempDir(), 'other-app.db');
    const other = openConnection(path);
    other.exec('CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT)');
    other.close();
    const status = await cli(['status', '--db', path]);
    const after = openConnection(path, { readOnly: true });
    const ahenkTables = after.prepare("SELECT count(*) FROM sqlite_master WHERE name LIKE 'ahenk_%'").value();
    after.close();
    expect(ahenkTables).toBe(0n);
    expect(status.code).toBe(EXIT.usage);
  });

  it('a busy --listen port is one line on stderr, with no stack trace', async () => {
    const laptop = appDatabase(tempDir(), 'laptop');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const start = await cli(['start', '--db', laptop, '--listen', `/ip4/127.0.0.1/tcp/${port}`], { signal: AbortSignal.timeout(10_000) });
      expect(start.code).not.toBe(0);
      expect(start.stderr).not.toMatch(/\n\s+at /);
      expect(start.stderr).not.toContain('faultTolerance');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('SIGTERM stops init while it waits for a password typed at a real terminal (raw mode), and leaves no file', async (context) => {
    const db = join(tempDir(), 'a.db');
    const command = `exec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} init --db ${JSON.stringify(db)} --user ayse --email ayse@example.test`;
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.AHENK_PASSWORD;
    // util-linux script gives the command a pseudo-terminal, so stdin is a TTY and the prompt goes raw.
    const terminal = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env });
    const exited = new Promise<number | null>((resolve) => terminal.once('exit', (code) => resolve(code)));
    let shown = '';
    terminal.stdout.on('data', (chunk: Buffer) => (shown += chunk.toString('utf8')));
    terminal.once('error', () => undefined);
    try {
      const prompted = await Promise.race([
        new Promise<boolean>((resolve) => {
          const check = setInterval(() => {
            if (shown.includes('Password:')) {
              clearInterval(check);
              resolve(true);
            }
          }, 50);
          setTimeout(() => (clearInterval(check), resolve(false)), 15_000);
        }),
        exited.then(() => false),
      ]);
      if (!prompted) {
        context.skip(`no pseudo-terminal here (script printed: ${JSON.stringify(shown)})`);
        return;
      }
      const ahenk = Number(execFileSync('pgrep', ['-P', String(terminal.pid)], { encoding: 'utf8' }).trim().split('\n')[0]);
      expect(ahenk).toBeGreaterThan(0);
      process.kill(ahenk, 'SIGTERM');
      const outcome = await Promise.race([exited, new Promise((r) => setTimeout(() => r('still running'), 5000))]);
      expect(outcome).toBe(EXIT.interrupted);
      expect(existsSync(db)).toBe(false);
    } finally {
      terminal.kill('SIGKILL');
      try {
        execFileSync('pkill', ['-KILL', '-P', String(terminal.pid)]);
      } catch {
        // nothing left to end
      }
      await exited;
    }
  });

  it('Ctrl-C at the pair confirmation prompt is a cancel (exit 130), not a pairing failure', async () => {
    const dir = tempDir();
    const laptop = appDatabase(dir, 'laptop');
    const phone = appDatabase(dir, 'phone');
    await cli(['init', '--db', laptop, '--user', 'ayse', '--email', 'ayse@example.test'], { env: { AHENK_PASSWORD: PASSWORD } });
    const { pair } = await pairAtTerminal(laptop, phone, '\u0003');
    expect(pair.stderr).not.toContain('PROTOCOL');
    expect(pair.code).toBe(EXIT.interrupted);
  });

  it('join - takes the code from stdin, out of ps and shell history', async () => {
    const phone = appDatabase(tempDir(), 'phone');
    const fromStdin = await cli(['join', '-', '--db', phone, '--device-type', 'phone', ...LOOPBACK], { stdin: 'ahenk-pair:1:not-base64url-json!!\n' });
    // The code read from stdin is the one checked: its damage is reported, before any socket opens.
    expect(fromStdin.code).toBe(EXIT.usage);
    expect(fromStdin.stderr).toContain('damaged');
    const empty = await cli(['join', '-', '--db', phone, '--device-type', 'phone', ...LOOPBACK], { stdin: '\n' });
    expect(empty.code).toBe(EXIT.usage);
    expect(empty.stderr).toContain('stdin held no pairing code');
  });
});
