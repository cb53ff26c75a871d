/**
 * Progress of long syncs: the bar as a pure function of a progress state, the idle timeout (a
 * sync that keeps moving is never cut off, a stalled one is), and `ahenk sync --once --json`
 * against a running `ahenk start` with enough rows for many progress events.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { recordCompletions, waitForSync } from '../../src/cli/commands/pairing-shared.ts';
import { CommandFailedError, EXIT } from '../../src/cli/main.ts';
import { ProgressTracker, renderProgressLine, type ProgressState } from '../../src/cli/progress.ts';
import { SyncNodeEmitter } from '../../src/sync/node/events.ts';
import { openConnection } from '../../src/sqlite/index.ts';
import { appDatabase, BIN, cli, LOOPBACK, PASSWORD, spawnCli, tempDir, todoTitles } from './helpers.ts';

const PEER = '12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo';

function state(overrides: Partial<ProgressState>): ProgressState {
  return { peerId: PEER, direction: 'receive', entries: 0, bytes: 0, totalEntries: undefined, elapsedMs: 0, entriesPerSecond: undefined, etaMs: undefined, ...overrides };
}

describe('progress bar frames', () => {
  it('draws entries of how many, bytes, rate and time left', () => {
    const half = state({ entries: 300_000, totalEntries: 600_000, bytes: 41_200_000, elapsedMs: 5000, entriesPerSecond: 60_000, etaMs: 5000 });
    expect(renderProgressLine(half, 200)).toBe('receiving from …kSCVe2Xo [############............] 300,000/600,000 entries 41.2 MB 60,000/s 5 s left');
    const done = state({ direction: 'send', entries: 600_000, totalEntries: 600_000, bytes: 999, entriesPerSecond: 1000, etaMs: 0 });
    expect(renderProgressLine(done, 200)).toBe('sending to …kSCVe2Xo [########################] 600,000/600,000 entries 999 B 1,000/s 0 s left');
    // Before the sender says how many: no total, no time left, an unknown bar.
    expect(renderProgressLine(state({ entries: 10, bytes: 2048 }), 200)).toBe('receiving from …kSCVe2Xo [????????????????????????] 10 entries 2.0 kB');
  });

  it('fits the terminal width', () => {
    const line = renderProgressLine(state({ entries: 1, totalEntries: 2, bytes: 1, entriesPerSecond: 1, etaMs: 3_700_000 }), 40);
    expect(line).toHaveLength(40);
    expect(line.endsWith('…')).toBe(true);
  });

  it('computes rate and time left from the events and an injected clock', () => {
    let now = 1000;
    const tracker = new ProgressTracker(() => now);
    tracker.update({ peerId: PEER, direction: 'receive', entries: 0, bytes: 0, totalEntries: 4000 });
    now = 3000;
    const s = tracker.update({ peerId: PEER, direction: 'receive', entries: 1000, bytes: 50_000, totalEntries: 4000 });
    expect(s.entriesPerSecond).toBe(500);
    expect(s.etaMs).toBe(6000);
    expect(renderProgressLine(s, 200)).toContain('1,000/4,000 entries 50.0 kB 500/s 6 s left');
  });
});

describe('the sync timeout is an idle timeout', () => {
  it('lets a sync that runs longer than the timeout finish while it keeps making progress', async () => {
    const events = new SyncNodeEmitter();
    const completions = recordCompletions(events);
    const started = performance.now();
    const waiting = waitForSync(completions, PEER, 300, undefined);
    // 1.2 s of progress every 100 ms: four times the timeout, never 300 ms apart.
    for (let i = 1; i <= 12; i += 1) {
      await new Promise((r) => setTimeout(r, 100));
      events.emit('sync:progress', { peerId: PEER, direction: 'receive', entries: i * 1000, bytes: i * 50_000, totalEntries: 12_000 });
    }
    events.emit('sync:complete', { peerId: PEER, sent: 0, received: 12_000, bytesSent: 0, bytesReceived: 600_000, durationMs: 1200 });
    await expect(waiting).resolves.toMatchObject({ received: 12_000 });
    expect(performance.now() - started).toBeGreaterThan(1000);
  });

  it('cuts a stalled sync with a clear message and EXIT.stalled; progress of another peer does not keep it alive', async () => {
    const events = new SyncNodeEmitter();
    const waiting = waitForSync(recordCompletions(events), PEER, 300, undefined);
    const other = setInterval(() => events.emit('sync:progress', { peerId: 'someone-else', direction: 'receive', entries: 1, bytes: 1 }), 50);
    events.emit('sync:progress', { peerId: PEER, direction: 'receive', entries: 1000, bytes: 1, totalEntries: 5000 });
    try {
      const error = await waiting.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CommandFailedError);
      expect((error as CommandFailedError).exitCode).toBe(EXIT.stalled);
      expect((error as Error).message).toContain(`the sync with ${PEER} made no progress for 0.3 s`);
    } finally {
      clearInterval(other);
    }
  });
});

/** 12 batches of 1000 entries: a dozen progress events. */
const ROWS = 12_000;

interface JsonLine {
  event: string;
  peerId?: string;
  direction?: string;
  entries?: number;
  totalEntries?: number | null;
  bytes?: number;
  received?: number;
  bytesReceived?: number;
}

/** Two paired databases (laptop with the account, phone joined), through the CLI itself. */
async function pairedDevices(dir: string): Promise<{ laptop: string; phone: string }> {
  const laptop = appDatabase(dir, 'laptop', { id: 'first', title: 'first' });
  const phone = appDatabase(dir, 'phone');
  expect((await cli(['init', '--db', laptop, '--user', 'ayse', '--email', 'ayse@example.test', '--device-type', 'laptop'], { env: { AHENK_PASSWORD: PASSWORD } })).code).toBe(0);
  const pair = spawnCli(['pair', '--db', laptop, ...LOOPBACK]);
  const code = await pair.line(/^ahenk-pair:1:/, 60_000);
  const join = spawnCli(['join', code, '--db', phone, '--device-type', 'phone', ...LOOPBACK]);
  expect(await join.exited).toBe(0);
  expect(await pair.exited).toBe(0);
  return { laptop, phone };
}

describe('ahenk sync --once', () => {
  it('syncs with a running peer, printing monotonic JSON progress lines up to the right total, and exits 0', async () => {
    const dir = tempDir();
    const { laptop, phone } = await pairedDevices(dir);
    const raw = openConnection(laptop);
    const insert = raw.prepare('INSERT INTO todos (id, title, done, score) VALUES (?, ?, ?, ?)');
    raw.exec('BEGIN');
    for (let i = 0; i < ROWS; i += 1) insert.run(`row-${i}`, `title ${i}`, i % 2, i / 3);
    raw.exec('COMMIT');
    raw.close();
    const laptopNode = spawnCli(['start', '--db', laptop, ...LOOPBACK, '--json']);
    const address = (JSON.parse(await laptopNode.line(/"event":"listen"/, 60_000)) as { address: string }).address;

    const sync = await cli(['sync', '--once', '--json', '--db', phone, '--peer', address, ...LOOPBACK]);
    expect(sync.stderr).toBe('');
    expect(sync.code).toBe(0);
    const lines = sync.stdout.trim().split('\n').map((l) => JSON.parse(l) as JsonLine);
    const received = lines.filter((l) => l.event === 'sync:progress' && l.direction === 'receive');
    expect(received.length).toBeGreaterThanOrEqual(5);
    for (let i = 1; i < received.length; i += 1) {
      expect(received[i]!.entries!).toBeGreaterThan(received[i - 1]!.entries!);
      // Bytes count frames as read, entries as applied: a group commit applies frames already counted.
      expect(received[i]!.bytes!).toBeGreaterThanOrEqual(received[i - 1]!.bytes!);
    }
    const complete = lines.find((l) => l.event === 'sync:complete')!;
    const last = received.at(-1)!;
    expect(last.entries).toBe(last.totalEntries);
    expect(last.entries).toBe(complete.received);
    expect(last.bytes).toBeLessThanOrEqual(complete.bytesReceived!);
    expect(complete.received).toBeGreaterThanOrEqual(ROWS);
    expect(Object.keys(todoTitles(phone))).toHaveLength(ROWS + 1);
    // `start --json` on the other side printed its half: what it sent, up to the same total.
    const sentLines = () => laptopNode.stdout().trim().split('\n').map((l) => JSON.parse(l) as JsonLine).filter((l) => l.event === 'sync:progress' && l.direction === 'send');
    await expect.poll(() => sentLines().at(-1)?.entries, { timeout: 10_000 }).toBe(complete.received);
    expect(sentLines().length).toBeGreaterThanOrEqual(5);
    laptopNode.child.kill('SIGINT');
    expect(await laptopNode.exited).toBe(0);
  }, 120_000);

  it('says what is missing without --once or without a peer (exit 2), and a peer that is gone is exit 1', async () => {
    const dir = tempDir();
    const lone = appDatabase(dir, 'lone');
    const noOnce = await cli(['sync', '--db', lone]);
    expect(noOnce.code).toBe(EXIT.usage);
    expect(noOnce.stderr).toContain('ahenk sync needs --once');
    const noPeer = await cli(['sync', '--once', '--db', lone, ...LOOPBACK]);
    expect(noPeer.code).toBe(EXIT.usage);
    expect(noPeer.stderr).toContain('no peer to sync with');
    const gone = await cli(['sync', '--once', '--db', lone, ...LOOPBACK, '--peer', '/ip4/127.0.0.1/tcp/9']);
    expect(gone.code).toBe(EXIT.failure);
    expect(gone.stderr).toContain('could not reach /ip4/127.0.0.1/tcp/9');
  });

  it('cuts a sync with a peer that never answers after --sync-timeout without progress (exit 4)', async () => {
    const dir = tempDir();
    const { laptop, phone } = await pairedDevices(dir);
    // The laptop is known to the phone (remembered at pairing) but is not running: nothing ever moves.
    void laptop;
    const started = performance.now();
    const sync = await cli(['sync', '--once', '--db', phone, '--sync-timeout', '1', ...LOOPBACK]);
    expect(sync.code).toBe(EXIT.stalled);
    expect(sync.stderr).toMatch(/made no progress for 1 s/);
    expect(performance.now() - started).toBeLessThan(10_000);
  }, 120_000);
});

const hasScript = spawnSync('script', ['--version']).status === 0;

describe.skipIf(!hasScript)('at a terminal (script -qfc)', () => {
  it('draws the bar in place and clears it before the result line', async () => {
    const dir = tempDir();
    const { laptop, phone } = await pairedDevices(dir);
    const raw = openConnection(laptop);
    const insert = raw.prepare('INSERT INTO todos (id, title) VALUES (?, ?)');
    raw.exec('BEGIN');
    for (let i = 0; i < 5000; i += 1) insert.run(`row-${i}`, `title ${i}`);
    raw.exec('COMMIT');
    raw.close();
    const laptopNode = spawnCli(['start', '--db', laptop, ...LOOPBACK]);
    const address = (await laptopNode.line(/ listening on \/ip4\/127\.0\.0\.1\//, 60_000)).split(' listening on ')[1]!;
    const command = [process.execPath, BIN, 'sync', '--once', '--db', phone, '--peer', address, ...LOOPBACK].map((a) => `'${a}'`).join(' ');
    const output = execFileSync('script', ['-qfec', command, '/dev/null'], { encoding: 'utf8', env: { ...process.env, COLUMNS: '120' } });
    expect(output).toMatch(/\r\u001b\[K(receiving from|sending to) …\S+ \[[#.?]{24}\] [\d,]+(\/[\d,]+)? entries/);
    expect(output).toMatch(/\r\u001b\[Ksynced with \S+: sent \d+, received \d+ entries/);
    laptopNode.child.kill('SIGINT');
    expect(await laptopNode.exited).toBe(0);
  }, 120_000);
});
