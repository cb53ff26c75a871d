/**
 * The quick commands, run in-process through run(): output, --json, exit codes, and usage errors
 * that print one line instead of a stack trace.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/main.ts';
import { appDatabase, cli, LOOPBACK, PASSWORD, tempDir } from './helpers.ts';

const env = { AHENK_PASSWORD: PASSWORD };

function noStack(stderr: string): void {
  expect(stderr).not.toMatch(/\n\s+at /);
}

describe('ahenk init', () => {
  it('creates a database and prints its device id, the same on every open', async () => {
    const db = join(tempDir(), 'a.db');
    const first = await cli(['init', '--db', db]);
    expect(first.code).toBe(0);
    const deviceId = /Device id: (\S+)/.exec(first.stdout)?.[1];
    expect(deviceId).toMatch(/^12D3KooW/);
    const again = await cli(['init', '--json'], { env: { AHENK_DB: db } });
    expect(JSON.parse(again.stdout)).toEqual({ database: db, deviceId, tables: [] });
  });

  it('registers the account with the password from AHENK_PASSWORD and lists this device', async () => {
    const db = join(tempDir(), 'a.db');
    const result = await cli(['init', '--db', db, '--user', 'ayse', '--email', 'Ayse@Example.test', '--device-type', 'laptop', '--json'], { env });
    expect(result.code).toBe(0);
    const out = JSON.parse(result.stdout) as { deviceId: string; user: { userName: string; email: string } };
    expect(out.user).toMatchObject({ userName: 'ayse', email: 'ayse@example.test' });
    const devices = JSON.parse((await cli(['device', 'list', '--db', db, '--json'])).stdout) as { peerId: string; deviceType: string; self: boolean }[];
    expect(devices).toEqual([expect.objectContaining({ peerId: out.deviceId, deviceType: 'laptop', self: true, userName: 'ayse' })]);
  });

  it('reads the password from stdin when AHENK_PASSWORD is unset, and refuses a duplicate account', async () => {
    const db = join(tempDir(), 'a.db');
    expect((await cli(['init', '--db', db, '--user', 'ayse', '--email', 'a@example.test'], { stdin: `${PASSWORD}\n` })).code).toBe(0);
    const again = await cli(['init', '--db', db, '--user', 'ayse', '--email', 'b@example.test'], { env });
    expect(again.code).toBe(EXIT.failure);
    expect(again.stderr).toContain('Username already exists');
    noStack(again.stderr);
  });

  it('rejects bad input with exit code 2 and no stack trace', async () => {
    const dir = tempDir();
    const cases: [string[], RegExp][] = [
      [['init'], /no database given/],
      [['init', '--db', join(dir, 'a.db'), '--user', 'ayse'], /--user and --email go together/],
      [['init', '--db', join(dir, 'a.db'), '--user', 'ayse', '--email', 'a@example.test'], /no password/],
      [['init', '--db', join(dir, 'missing', 'a.db')], /folder .* does not exist/],
      [['status', '--db', join(dir, 'nothing.db')], /no database at .*ahenk init/],
      [['status', '--db', join(dir, 'a.db'), '--bogus'], /unknown option '--bogus'/],
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['join', 'not-a-code', '--device-type', 'phone', '--db', join(dir, 'a.db')], /not a pairing code/],
      [['join', 'ahenk-pair:1:x', '--db', join(dir, 'a.db')], /required option '--device-type <type>'/],
      [['pair', '--db', join(dir, 'a.db'), '--ttl', 'soon'], /--ttl must be a positive number/],
      [['pair', '--db', join(dir, 'a.db'), '--ttl', '700'], /--ttl must be at most 600 seconds/],
      [['device', 'revoke', '--db', join(dir, 'a.db')], /missing required argument 'device'/],
    ];
    for (const [argv, message] of cases) {
      const result = await cli(argv);
      expect({ argv, code: result.code }).toEqual({ argv, code: EXIT.usage });
      expect(result.stderr).toMatch(message);
      noStack(result.stderr);
    }
  });

  it('prints help and the version with exit code 0', async () => {
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    for (const command of ['init', 'status', 'device', 'peer', 'start', 'pair', 'join']) expect(help.stdout).toContain(command);
    expect((await cli(['--version'])).stdout).toMatch(/^\d+\.\d+\.\d+/);
    expect((await cli(['device', '--help'])).stdout).toContain('revoke');
  });
});

describe('ahenk status', () => {
  it('shows the app tables with row counts from a database whose schema the CLI never saw', async () => {
    const db = appDatabase(tempDir(), 'a', { id: 't1', title: 'milk' });
    const text = await cli(['status', '--db', db]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/Schema version: \d+/);
    expect(text.stdout).toMatch(/^todos\s+1$/m);
    const status = JSON.parse((await cli(['status', '--db', db, '--json'])).stdout) as Record<string, unknown>;
    expect(status).toMatchObject({ quarantined: 0, peers: [], accounts: [] });
    expect(status.oplogEntries).toBeGreaterThanOrEqual(1);
    expect(status.tables).toEqual(expect.arrayContaining([{ name: 'todos', rows: 1, system: false }, { name: 'counters', rows: 0, system: false }]));
  });
});

describe('ahenk device and peer', () => {
  it('revokes a device by its id or peer id, and refuses to revoke this device without --force', async () => {
    const db = join(tempDir(), 'a.db');
    const init = JSON.parse((await cli(['init', '--db', db, '--user', 'ayse', '--email', 'a@example.test', '--json'], { env })).stdout) as { deviceId: string };
    const self = await cli(['device', 'revoke', init.deviceId, '--db', db]);
    expect(self.code).toBe(EXIT.usage);
    expect(self.stderr).toContain('--force');
    expect((await cli(['device', 'revoke', 'no-such-device', '--db', db])).code).toBe(EXIT.usage);

    const forced = await cli(['device', 'revoke', init.deviceId, '--db', db, '--force']);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toMatch(/^Revoked device /);
    const [device] = JSON.parse((await cli(['device', 'list', '--db', db, '--json'])).stdout) as { id: string; revokedAt: number | null }[];
    expect(device?.revokedAt).toEqual(expect.any(Number));
    // Revoking again keeps the first time and says so.
    const again = await cli(['device', 'revoke', device!.id, '--db', db, '--force']);
    expect(again.stdout).toContain('already revoked');
  });

  it('lists no known peers on a new database', async () => {
    const db = join(tempDir(), 'a.db');
    await cli(['init', '--db', db]);
    expect(JSON.parse((await cli(['peer', 'list', '--db', db, '--json'])).stdout)).toEqual([]);
    expect((await cli(['peer', 'list', '--db', db])).stdout).toContain('No known peers');
  });
});

describe('ahenk start (in-process)', () => {
  it('listens, logs as JSON lines, and stops with exit code 0 when its signal aborts', async () => {
    const db = join(tempDir(), 'a.db');
    await cli(['init', '--db', db]);
    const stop = new AbortController();
    const running = cli(['start', '--db', db, ...LOOPBACK, '--json'], { signal: stop.signal, onStdout: (text) => text.includes('"listen"') && stop.abort() });
    const result = await running;
    expect(result.code).toBe(0);
    const events = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; address?: string });
    expect(events.map((e) => e.event)).toEqual(['start', 'listen', 'stop', 'stopped']);
    expect(events[1]?.address).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3KooW/);
  });

  it('refuses a malformed --listen or --peer address as a usage error', async () => {
    const db = join(tempDir(), 'a.db');
    await cli(['init', '--db', db]);
    const bad = await cli(['start', '--db', db, '--listen', 'localhost:80']);
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.stderr).toMatch(/--listen: "localhost:80" is not a valid multiaddr/);
    expect((await cli(['start', '--db', db, ...LOOPBACK, '--peer', 'nope'])).code).toBe(EXIT.usage);
  });
});
