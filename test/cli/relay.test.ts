/**
 * `ahenk relay` in-process: starts a relay from a state file with admitted devices, prints its
 * address, keeps its PeerId across runs, writes the status file `--status` reads, and refuses bad
 * flags as usage errors.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getDeviceId } from '../../src/database/identity.ts';
import { openDevice } from '../helpers/db.ts';
import { cli, tempDir } from './helpers.ts';

const LISTEN = ['--listen', '/ip4/127.0.0.1/tcp/0', '--listen', '/ip4/127.0.0.1/tcp/0/ws'];

async function runRelay(args: string[]): Promise<{ code: number; lines: Record<string, unknown>[] }> {
  const stop = new AbortController();
  const result = await cli(['relay', ...LISTEN, '--json', ...args], { signal: stop.signal, onStdout: (text) => text.includes('"listen"') && stop.abort() });
  const lines = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  return { code: result.code, lines };
}

describe('ahenk relay', () => {
  it('runs a relay that admits the given devices, keeps its id across runs, and reports its counters', async () => {
    const dir = tempDir();
    const state = join(dir, 'relay.json');
    const device = getDeviceId(openDevice('phone'));
    const first = await runRelay(['--state', state, '--admit', device]);
    expect(first.code).toBe(0);
    const started = first.lines.find((l) => l['event'] === 'relay:start')!;
    expect(started['peerId']).toMatch(/^12D3KooW/);
    expect((started['addresses'] as string[]).some((a) => a.includes('/ws/p2p/'))).toBe(true);
    expect(first.lines.some((l) => l['event'] === 'stopped')).toBe(true);
    expect(statSync(state).mode & 0o777).toBe(0o600);

    const second = await runRelay(['--state', state]);
    expect(second.lines.find((l) => l['event'] === 'relay:start')!['peerId']).toBe(started['peerId']);

    const status = await cli(['relay', '--state', state, '--status', '--json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ admitted: 1, reservations: 0, circuits: 0, refused: { connections: 0 } });
    const text = await cli(['relay', '--state', state, '--status']);
    expect(text.stdout).toMatch(/^relay: 1 admitted, 0 reservations/);
  });

  it('refuses a bad device id or limit as a usage error, and --status without a relay', async () => {
    const dir = tempDir();
    const bad = await cli(['relay', '--state', join(dir, 'r.json'), ...LISTEN, '--admit', 'nobody']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('"nobody" is not a peer id');
    const limit = await cli(['relay', '--state', join(dir, 'r.json'), ...LISTEN, '--circuit-bytes', '-5']);
    expect(limit.code).toBe(2);
    const none = await cli(['relay', '--state', join(dir, 'other.json'), '--status']);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no relay status');
  });
});
