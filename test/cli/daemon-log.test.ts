/**
 * The daemon's log (issue 10, item 13): pino JSON lines in a file the daemon rotates by size,
 * `ahenk logs` pretty-printing them (filtered by level, raw with --json) across rotated files and
 * while following, and the levels the node's events are logged at.
 */
import { existsSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createDaemonLogger, RotatingLogFile } from '../../src/cli/daemon-log.ts';
import { EXIT } from '../../src/cli/main.ts';
import { EventLog } from '../../src/cli/node.ts';
import { SyncNodeEmitter } from '../../src/sync/node/events.ts';
import type { SyncNode } from '../../src/sync/node/index.ts';
import { cli, LOOPBACK, tempDir } from './helpers.ts';

const daemons: string[] = [];
afterEach(async () => {
  for (const db of daemons.splice(0)) await cli(['stop', '--db', db]);
});

function lineOf(index: number): string {
  return `${JSON.stringify({ level: 'info', time: new Date(0).toISOString(), event: 'test', n: index, msg: `line ${index} ${'x'.repeat(60)}` })}\n`;
}

function numbersIn(path: string): number[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { n: number }).n);
}

describe('the rotating log file', () => {
  it('rotates before passing its size, keeps the asked number of old files, and never splits a line', () => {
    const path = join(tempDir(), 'a.db.ahenk.log');
    writeFileSync(path, '', { mode: 0o644 }); // an older log, readable by all: only its owner's from now on
    const file = new RotatingLogFile(path, { maxBytes: 4096, files: 2 });
    for (let i = 0; i < 200; i++) file.write(lineOf(i));
    file.close();
    for (const name of [path, `${path}.1`, `${path}.2`]) expect(statSync(name).size).toBeLessThanOrEqual(4096);
    expect(existsSync(`${path}.3`)).toBe(false);
    for (const name of [path, `${path}.1`, `${path}.2`]) expect(statSync(name).mode & 0o777).toBe(0o600);
    // Oldest to newest, the kept files hold the last lines written, each whole and in order.
    const kept = [...numbersIn(`${path}.2`), ...numbersIn(`${path}.1`), ...numbersIn(path)];
    expect(kept.at(-1)).toBe(199);
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, i) => 200 - kept.length + i));
    expect(kept.length).toBeGreaterThan(50); // two full files and a part
  });

  it('follows a truncated or replaced file, and says how many lines a failed write lost', () => {
    const path = join(tempDir(), 'a.db.ahenk.log');
    // The log's name first points at /dev/full, where every write fails as on a full disk.
    symlinkSync('/dev/full', path);
    const file = new RotatingLogFile(path, { maxBytes: 1 << 20, files: 1 });
    file.write(lineOf(1));
    file.write(lineOf(2));
    // Space again (a new file at the name): the next write says what was lost, then goes on.
    rmSync(path);
    file.write(lineOf(3));
    const [note, third] = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(note).toMatchObject({ level: 'warn', event: 'log:lost', lost: 2, msg: expect.stringMatching(/^2 log lines were lost: ENOSPC/) });
    expect(third).toMatchObject({ n: 3 });
    writeFileSync(path, ''); // truncated in place (logrotate's copytruncate): appending goes on
    file.write(lineOf(4));
    file.close();
    expect(numbersIn(path)).toEqual([4]);
  });

  it('an event field named like one of pino\'s keys (level, time, msg, pid) cannot overwrite it', () => {
    const path = join(tempDir(), 'a.db.ahenk.log');
    const file = new RotatingLogFile(path, { maxBytes: 1 << 20, files: 1 });
    const log = new EventLog({ stdout: { write: () => {} }, stderr: { write: () => {} }, env: {}, cwd: '/' }, false, createDaemonLogger(file, 'info'));
    log.line('peer:disconnect', { level: 'fatal', time: 'bogus', msg: 'forged', pid: 1 }, 'the real text');
    file.close();
    const line = JSON.parse(readFileSync(path, 'utf8').trim()) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 'info', msg: 'the real text', pid: process.pid, field_level: 'fatal', field_time: 'bogus', field_msg: 'forged', field_pid: 1 });
    expect(line.time).not.toBe('bogus');
  });

  it('logs the node\'s events at their levels, with the text as the message', () => {
    const path = join(tempDir(), 'a.db.ahenk.log');
    const file = new RotatingLogFile(path, { maxBytes: 1 << 20, files: 1 });
    const log = new EventLog({ stdout: { write: () => {} }, stderr: { write: () => {} }, env: {}, cwd: '/' }, false, createDaemonLogger(file, 'info'));
    const node = Object.assign(new SyncNodeEmitter(), { getMultiaddrs: () => [] }) as unknown as SyncNode;
    log.follow(node);
    node.emit('peer:unreachable', { peerId: 'P', tried: [{ address: '/ip4/10.0.0.2/tcp/24001', error: 'connect ECONNREFUSED 10.0.0.2:24001' }], backedOff: [], retryInMs: 2_000 });
    node.emit('peer:disconnect', { peerId: 'P' });
    node.emit('error', { peerId: 'P', error: new Error('stream reset') });
    log.line('log', { message: 'a verbose line' }, 'a verbose line');
    file.close();
    const lines = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toEqual([
      expect.objectContaining({ level: 'warn', event: 'peer:unreachable', peerId: 'P', msg: 'cannot reach P: tried /ip4/10.0.0.2/tcp/24001 (connect ECONNREFUSED 10.0.0.2:24001); next try in 2 s' }),
      expect.objectContaining({ level: 'info', event: 'peer:disconnect', msg: 'disconnected P' }),
      expect.objectContaining({ level: 'error', event: 'error', message: 'stream reset', msg: 'error with P: stream reset' }),
    ]);
    expect(lines.every((l) => l.pid === process.pid && typeof l.time === 'string')).toBe(true);
  });
});

describe('ahenk logs', () => {
  it('pretty-prints, filters by level, prints raw JSON with --json, and reads on into rotated files', async () => {
    const db = join(tempDir(), 'a.db');
    const log = `${db}.ahenk.log`;
    writeFileSync(`${log}.1`, [lineOf(1), lineOf(2)].join(''));
    writeFileSync(
      log,
      [
        JSON.stringify({ level: 40, time: 1_700_000_000_000, msg: 'numbered warning' }),
        'Error: a crash report on stderr',
        JSON.stringify({ level: 'debug', time: '2026-12-05T06:00:00.000Z', event: 'sync:progress', entries: 5 }),
        JSON.stringify({ level: 'error', time: '2026-12-05T06:00:01.000Z', event: 'error', msg: 'error with P: stream reset' }),
      ].join('\n') + '\n',
    );
    const all = await cli(['logs', '--db', db]);
    expect(all.code).toBe(0);
    expect(all.stdout.split('\n')).toEqual([
      `1970-01-01T00:00:00.000Z INFO  line 1 ${'x'.repeat(60)}`,
      `1970-01-01T00:00:00.000Z INFO  line 2 ${'x'.repeat(60)}`,
      '2023-11-14T22:13:20.000Z WARN  numbered warning',
      'Error: a crash report on stderr',
      '2026-12-05T06:00:00.000Z DEBUG sync:progress entries=5',
      '2026-12-05T06:00:01.000Z ERROR error with P: stream reset',
      '',
    ]);
    // Five lines: the file's four, then the newest of the rotated file before it.
    expect((await cli(['logs', '--db', db, '-n', '5'])).stdout.split('\n')[0]).toContain('line 2');
    // At or above warn; a line without a level (the crash report) is always shown.
    expect((await cli(['logs', '--db', db, '--level', 'warn'])).stdout).toBe(
      ['2023-11-14T22:13:20.000Z WARN  numbered warning', 'Error: a crash report on stderr', '2026-12-05T06:00:01.000Z ERROR error with P: stream reset', ''].join('\n'),
    );
    expect((await cli(['logs', '--db', db, '--level', 'error', '--json'])).stdout).toBe(
      `Error: a crash report on stderr\n${JSON.stringify({ level: 'error', time: '2026-12-05T06:00:01.000Z', event: 'error', msg: 'error with P: stream reset' })}\n`,
    );
    const bad = await cli(['logs', '--db', db, '--level', 'loud']);
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.stderr).toContain('--level must be one of trace, debug, info, warn, error, fatal, got "loud"');
  });

  it('--follow goes on across the daemon\'s rotations, every line once and in order', async () => {
    const db = join(tempDir(), 'a.db');
    const file = new RotatingLogFile(`${db}.ahenk.log`, { maxBytes: 4096, files: 3 });
    file.write(lineOf(0));
    const quit = new AbortController();
    const following = cli(['logs', '--db', db, '--follow', '--lines', '0', '--json'], { signal: quit.signal, onStdout: (text) => text.includes('"n":119,') && quit.abort() });
    // Written in bursts between the follower's polls, so rotations happen between and within them.
    for (let i = 1; i < 120; i++) {
      file.write(lineOf(i));
      if (i % 20 === 0) await new Promise((resolve) => setTimeout(resolve, 300));
    }
    const followed = await following;
    file.close();
    expect(followed.code).toBe(0);
    expect(followed.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { n: number }).n)).toEqual(Array.from({ length: 119 }, (_, i) => i + 1));
  }, 30_000);
});

describe('ahenk start --detach and its log', () => {
  async function freePort(): Promise<number> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    await new Promise((resolve) => server.close(resolve));
    return port;
  }

  it('finds its start line when the daemon rotates a full log at once, and passes on --port and the log flags', async () => {
    const db = join(tempDir(), 'a.db');
    expect((await cli(['init', '--db', db])).code).toBe(0);
    const log = `${db}.ahenk.log`;
    const old = Array.from({ length: 60 }, (_, i) => lineOf(i)).join('');
    writeFileSync(log, old);
    expect(old.length).toBeGreaterThan(4096);
    const port = await freePort();
    daemons.push(db);
    const started = await cli(['start', '--detach', '--db', db, ...LOOPBACK, '--port', String(port), '--log-max-size', '4k', '--log-files', '1', '--log-level', 'debug']);
    expect(started.stderr).toBe('');
    expect(started.code).toBe(0);
    expect(started.stdout).toContain(`Listening on /ip4/127.0.0.1/tcp/${port}/p2p/12D3KooW`);
    // The old lines went to .1 whole; the daemon's lines start the new file.
    // (After them, on node:sqlite, Node's own ExperimentalWarning: the daemon's stderr is the file it started with.)
    expect(readFileSync(`${log}.1`, 'utf8').startsWith(old)).toBe(true);
    expect(JSON.parse(readFileSync(log, 'utf8').split('\n')[0]!)).toMatchObject({ event: 'start' });
    const tail = await cli(['logs', '--db', db, '-n', '200']);
    expect(tail.stdout).toContain(`INFO  line 59 `);
    expect(tail.stdout).toMatch(/INFO  started 12D3KooW/);
  }, 60_000);

  it('refuses bad log flags before starting anything, and log flags without --detach', async () => {
    const db = join(tempDir(), 'a.db');
    expect((await cli(['init', '--db', db])).code).toBe(0);
    const cases: [string[], string][] = [
      [['--log-level', 'loud'], '--log-level must be one of trace, debug, info, warn, error, fatal, got "loud"'],
      [['--log-max-size', '100'], '--log-max-size must be a size of at least 4096 bytes (e.g. 10M, 512k), got "100"'],
      [['--log-max-size', '10X'], 'got "10X"'],
      [['--log-files', '0'], '--log-files must be a whole number from 1 to 100, got "0"'],
    ];
    for (const [flags, message] of cases) {
      const result = await cli(['start', '--detach', '--db', db, ...LOOPBACK, ...flags]);
      expect(result.code).toBe(EXIT.usage);
      expect(result.stderr).toContain(message);
    }
    const foreground = await cli(['start', '--db', db, ...LOOPBACK, '--log-level', 'debug']);
    expect(foreground.code).toBe(EXIT.usage);
    expect(foreground.stderr).toContain('use them with --detach');
    expect(existsSync(`${db}.ahenk.log`)).toBe(false);
    expect(existsSync(`${db}.ahenk.pid`)).toBe(false);
  });
});
