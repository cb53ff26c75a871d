/**
 * `ahenk relay` in-process: starts a relay from a state file with admitted devices, prints its
 * address, keeps its PeerId across runs, writes the status file `--status` reads, and refuses bad
 * flags as usage errors.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getDeviceId } from '../../src/database/identity.ts';
import { openDevice } from '../helpers/db.ts';
import { waitFor } from '../net/fixtures.ts';
import { cli, tempDir } from './helpers.ts';

async function initDevice(db: string): Promise<string> {
  return (JSON.parse((await cli(['init', '--db', db, '--json'])).stdout) as { deviceId: string }).deviceId;
}

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

  it('prints the join token at the first start only; `relay add` joins with it; admit, revoke and token reach the running relay', async () => {
    const dir = tempDir();
    const state = join(dir, 'relay.json');
    const first = await runRelay(['--state', state]);
    const printed = first.lines.find((l) => l['event'] === 'relay:token')!['token'] as string;
    expect(printed).toMatch(/^[a-z2-7]{32}$/);
    // Never shown again unasked: not in a later start's output.
    const again = await cli(['relay', '--state', state, '--listen', '/ip4/127.0.0.1/tcp/0', '--json'], { signal: AbortSignal.timeout(4_000) });
    expect(again.stdout).toContain('relay:start');
    expect(again.stdout).not.toContain(printed);

    // The relay runs; every change below reaches it through its control socket.
    const stop = new AbortController();
    let output = '';
    const running = cli(['relay', '--state', state, '--listen', '/ip4/127.0.0.1/tcp/0', '--json'], { signal: stop.signal, onStdout: (text) => void (output += text) });
    try {
      await waitFor(() => output.includes('"listen"'), 20_000, 'the relay to listen');
      expect(statSync(`${state}.sock`).mode & 0o777).toBe(0o600);
      const address = (JSON.parse(output.split('\n').find((l) => l.includes('"listen"'))!) as { address: string }).address;
      const shown = await cli(['relay', 'token', '--state', state, '--json']);
      expect(JSON.parse(shown.stdout)).toEqual({ token: printed, running: true });

      const phone = join(dir, 'phone.db');
      const laptop = join(dir, 'laptop.db');
      const phoneId = await initDevice(phone);
      const laptopId = await initDevice(laptop);
      const wrong = await cli(['relay', 'add', address, '--db', phone, '--token', 'a'.repeat(32)]);
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toContain('wrong join token');
      const added = await cli(['relay', 'add', address, '--db', phone], { env: { AHENK_RELAY_TOKEN: printed } });
      expect(added.code).toBe(0);
      expect(added.stdout).toContain(`admitted this device (${phoneId})`);

      const admitted = await cli(['relay', 'admit', laptopId, '--state', state, '--json']);
      expect(JSON.parse(admitted.stdout)).toEqual({ deviceId: laptopId, admitted: 2, running: true });
      const revoked = await cli(['relay', 'revoke', phoneId, '--state', state]);
      expect(revoked.stdout).toContain(`revoked ${phoneId} on the running relay; 1 devices admitted`);
      const rotated = JSON.parse((await cli(['relay', 'token', '--rotate', '--state', state, '--json'])).stdout) as { token: string };
      expect(rotated.token).not.toBe(printed);
      const stale = await cli(['relay', 'add', address, '--db', phone, '--token', printed]);
      expect(stale.stderr).toContain('wrong join token');
      expect(output).not.toContain(printed);
      expect(output).not.toContain(rotated.token);
    } finally {
      stop.abort();
      await running;
    }
    // With no relay running, the same commands edit the state file.
    const offline = await cli(['relay', 'admit', '12D3KooWHoc5mZuABLYaBrfigfQcPZDgtqooE2x9RWGgHRUGJGkF', '--state', state]);
    expect(offline.stdout).toContain('in the state file (no relay is running on it); 2 devices admitted');
    const list = JSON.parse(readFileSync(state, 'utf8')) as { admitted: { peerId: string }[]; revoked: string[] };
    expect(list.admitted.map((p) => p.peerId)).toContain('12D3KooWHoc5mZuABLYaBrfigfQcPZDgtqooE2x9RWGgHRUGJGkF');
    expect(list.revoked).toHaveLength(1);
    const missing = await cli(['relay', 'token', '--state', join(dir, 'none.json')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no relay state file');
  });

  it('keeps a change made while the relay starts, runs one relay per state file, and refuses a bad id alike running or not', async () => {
    const dir = tempDir();
    const state = join(dir, 'relay.json');
    const [first, second] = ['12D3KooWHoc5mZuABLYaBrfigfQcPZDgtqooE2x9RWGgHRUGJGkF', '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'];
    expect((await runRelay(['--state', state, '--admit', first])).code).toBe(0);
    // The relay loads the state, starts libp2p, then applies --revoke (a save of what it loaded);
    // an admit sent meanwhile used to edit the file behind its back and be overwritten.
    const stop = new AbortController();
    let output = '';
    const running = cli(['relay', ...LISTEN, '--json', '--state', state, '--revoke', first], { signal: stop.signal, onStdout: (text) => void (output += text) });
    try {
      const admitted = await cli(['relay', 'admit', second, '--state', state, '--json']);
      expect(admitted.code).toBe(0);
      await waitFor(() => output.includes('"listen"'), 20_000, 'the relay to listen');
      const file = JSON.parse(readFileSync(state, 'utf8')) as { admitted: { peerId: string }[]; revoked: string[] };
      expect(file.admitted.map((p) => p.peerId)).toEqual([second]);
      expect(file.revoked).toEqual([first]);
      const twice = await cli(['relay', ...LISTEN, '--state', state]);
      expect(twice.code).toBe(1);
      expect(twice.stderr).toContain(`another relay runs on ${state}`);
      const badRunning = await cli(['relay', 'admit', 'nobody', '--state', state]);
      expect(badRunning.code).toBe(2);
      expect(badRunning.stderr).toContain('"nobody" is not a device id');
    } finally {
      stop.abort();
      await running;
    }
    const badOffline = await cli(['relay', 'admit', 'nobody', '--state', state]);
    expect(badOffline.code).toBe(2);
    expect(badOffline.stderr).toContain('"nobody" is not a device id');
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
