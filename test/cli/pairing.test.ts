/**
 * pair, join and start as real processes (`node bin/ahenk.js`) on temp databases and 127.0.0.1:
 * the pairing code goes from the pair process's stdout to a join process; both devices end on
 * both lists, a row written before pairing reaches the new device, and a later `start` on both
 * syncs a row written afterwards and stops with exit code 0 on SIGINT.
 */
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/main.ts';
import { openConnection } from '../../src/sqlite/index.ts';
import { appDatabase, cli, LOOPBACK, pairAtTerminal, PASSWORD, spawnCli, tempDir, todoTitles } from './helpers.ts';

interface ListedDevice {
  deviceType: string;
  peerId: string;
  userName: string;
}

async function devices(db: string): Promise<[string, string, string][]> {
  const list = JSON.parse((await cli(['device', 'list', '--db', db, '--json'])).stdout) as ListedDevice[];
  return list.map((d) => [d.deviceType, d.peerId, d.userName] as [string, string, string]).sort();
}

async function deviceId(db: string): Promise<string> {
  return (JSON.parse((await cli(['init', '--db', db, '--json'])).stdout) as { deviceId: string }).deviceId;
}

describe('ahenk pair / join / start', () => {
  it('pairs a new device from the code on stdout, syncs the data, and keeps syncing with start', async () => {
    const dir = tempDir();
    const laptop = appDatabase(dir, 'laptop', { id: 'before-pairing', title: 'written on the laptop' });
    const phone = appDatabase(dir, 'phone');
    const init = await cli(['init', '--db', laptop, '--user', 'ayse', '--email', 'ayse@example.test', '--device-type', 'laptop'], { env: { AHENK_PASSWORD: PASSWORD } });
    expect(init.code).toBe(0);
    const [laptopId, phoneId] = [await deviceId(laptop), await deviceId(phone)];

    const pair = spawnCli(['pair', '--db', laptop, '--user', 'ayse', ...LOOPBACK]);
    const code = await pair.line(/^ahenk-pair:1:/);
    const join = spawnCli(['join', code, '--db', phone, '--device-type', 'phone', ...LOOPBACK]);
    expect(await join.exited).toBe(0);
    expect(join.stdout()).toMatch(/^Joined ayse .*2 devices on the list\.$/m);
    expect(join.stdout()).toMatch(/^First sync complete: received [1-9]\d*, /m);
    expect(await pair.exited).toBe(0);
    expect(pair.stdout()).toContain(`Paired: phone ${phoneId} joined ayse.`);

    const expected = [['laptop', laptopId, 'ayse'], ['phone', phoneId, 'ayse']].sort();
    expect(await devices(laptop)).toEqual(expected);
    expect(await devices(phone)).toEqual(expected);
    expect(todoTitles(phone)).toEqual({ 'before-pairing': 'written on the laptop' });

    // Later, with nothing running, each side writes; `start` on both brings them together.
    for (const [path, id] of [[laptop, 'from-laptop'], [phone, 'from-phone']] as const) {
      const raw = openConnection(path);
      raw.prepare('INSERT INTO todos (id, title) VALUES (?, ?)').run(id, `written later as ${id}`);
      raw.close();
    }
    const laptopNode = spawnCli(['start', '--db', laptop, ...LOOPBACK]);
    const address = (await laptopNode.line(/ listening on \/ip4\/127\.0\.0\.1\//)).split(' listening on ')[1]!;
    const phoneNode = spawnCli(['start', '--db', phone, ...LOOPBACK, '--peer', address, '--json']);
    const synced = JSON.parse(await phoneNode.line(/"event":"sync:complete"/)) as { peerId: string; sent: number; received: number };
    expect(synced).toMatchObject({ peerId: laptopId, sent: expect.any(Number), received: expect.any(Number) });
    await laptopNode.line(new RegExp(`synced with ${phoneId}: sent \\d+, received \\d+ entries`));
    for (const path of [laptop, phone]) expect(Object.keys(todoTitles(path))).toEqual(['before-pairing', 'from-laptop', 'from-phone']);

    laptopNode.child.kill('SIGINT');
    phoneNode.child.kill('SIGTERM');
    expect(await laptopNode.exited).toBe(0);
    expect(await phoneNode.exited).toBe(0);
    expect(laptopNode.stdout()).toMatch(/ stopped\n$/);
    expect((await cli(['peer', 'list', '--db', phone, '--json'])).stdout).toContain(laptopId);
  });

  it('exits with the pairing exit code when the code expires unanswered', async () => {
    const laptop = appDatabase(tempDir(), 'laptop');
    await cli(['init', '--db', laptop, '--user', 'ayse', '--email', 'ayse@example.test'], { env: { AHENK_PASSWORD: PASSWORD } });
    const pair = spawnCli(['pair', '--db', laptop, '--ttl', '0.5', ...LOOPBACK]);
    expect(await pair.exited).toBe(EXIT.pairing);
    expect(pair.stdout()).toMatch(/^ahenk-pair:1:/m);
    expect(pair.stderr()).toMatch(/^ahenk: pairing failed \(EXPIRED\): /m);
    expect(pair.stderr()).not.toMatch(/\n\s+at /);
  });

  it('stops pairing on its signal (exit 130), and join with its code fails as a vanished code (exit 3) once that pair is gone', async () => {
    const dir = tempDir();
    const laptop = appDatabase(dir, 'laptop');
    const phone = appDatabase(dir, 'phone');
    await cli(['init', '--db', laptop, '--user', 'ayse', '--email', 'ayse@example.test'], { env: { AHENK_PASSWORD: PASSWORD } });
    const stop = new AbortController();
    let code = '';
    const pair = await cli(['pair', '--db', laptop, ...LOOPBACK], {
      signal: stop.signal,
      onStdout: (text) => {
        code = /^ahenk-pair:1:\S+$/m.exec(text)?.[0] ?? code;
        if (code) stop.abort();
      },
    });
    expect(pair.code).toBe(EXIT.interrupted);
    expect(pair.stderr).toContain('pairing cancelled');
    const join = await cli(['join', code, '--db', phone, '--device-type', 'phone', ...LOOPBACK]);
    // Connection refused at every address in the code: nobody shows it any more (docs/cli.md: exit 3).
    expect(join.code).toBe(EXIT.pairing);
    expect(join.stderr).toBe(
      'ahenk: pairing failed (UNKNOWN_CHALLENGE): nothing answers at the addresses in this pairing code (connection refused): the pairing that showed it has ended, so the code was used, expired or cancelled; show a new code (ahenk pair) and use that\n',
    );
    expect(await devices(phone)).toEqual([]);
  });

  it('asks at a terminal before accepting the device; a "no" refuses it on both sides (exit 3)', async () => {
    const dir = tempDir();
    const laptop = appDatabase(dir, 'laptop', { id: 'secret', title: 'not for strangers' });
    const phone = appDatabase(dir, 'phone');
    await cli(['init', '--db', laptop, '--user', 'ayse', '--email', 'ayse@example.test'], { env: { AHENK_PASSWORD: PASSWORD } });
    const { pair, join } = await pairAtTerminal(laptop, phone, 'n\r');
    expect(pair.stderr).toMatch(/A phone \(12D3KooW\w+\) wants to join ayse/);
    expect(pair.code).toBe(EXIT.pairing);
    expect(join.code).toBe(EXIT.pairing);
    expect(join.stderr).toContain('REFUSED');
    expect(await devices(laptop)).toHaveLength(1);
    expect(todoTitles(phone)).toEqual({});
  });

  it('runs from any working directory as node bin/ahenk.js', async () => {
    const dir = tempDir();
    const help = spawnCli(['--help'], {}, dir);
    expect(await help.exited).toBe(0);
    expect(help.stdout()).toContain('Usage: ahenk');
    const init = spawnCli(['init', '--db', 'here.db'], {}, dir);
    expect(await init.exited).toBe(0);
    expect(init.stdout()).toContain(`${dir}/here.db`);
  });

  it('refuses to pair on a database without an account', async () => {
    const laptop = appDatabase(tempDir(), 'laptop');
    const pair = await cli(['pair', '--db', laptop, ...LOOPBACK]);
    expect(pair.code).toBe(EXIT.usage);
    expect(pair.stderr).toContain('no account');
  });
});
