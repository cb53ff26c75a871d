/**
 * A network change seen for real: two devices, each in its own network namespace joined by a veth
 * pair, connected and synced; then an address is added to one device's interface. That device
 * notices within a poll, listens on the new address (it listens on every interface, at its kept
 * port) and announces it, and the other device remembers it. And the whole CLI with no network
 * flags at all: pair and join on two "machines", then `ahenk start` on both finds the other again.
 * The namespaces are always deleted.
 */
import { execFileSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { getDeviceId } from '../../src/database/identity.ts';
import { openConnection } from '../../src/sqlite/index.ts';
import { storeKeptPort } from '../../src/sync/node/listen-port.ts';
import { rememberPeer } from '../../src/sync/node/peer-store.ts';
import { openDevice } from '../helpers/db.ts';
import { appDatabase, PASSWORD, tempDir, todoTitles } from '../cli/helpers.ts';
import { authorizePeers, waitFor } from './fixtures.ts';
import { createNamespacePair, namespaceUnavailableReason, type NamespacePair } from './netns.ts';
import { announceSkip, collectScript, findEvent as find, killScripts, reportChildren, ROOT, scriptArgs, type ScriptChild as Child } from './script-child.ts';

const BIN = fileURLToPath(new URL('../../bin/ahenk.js', import.meta.url));
const SCRIPT = fileURLToPath(new URL('./reach-node-script.ts', import.meta.url));
const skipReason = announceSkip('test/net/reachability.test.ts', namespaceUnavailableReason());

function run(pair: NamespacePair, index: 0 | 1, options: Record<string, unknown>): Child {
  return collectScript(pair.spawn(index, process.execPath, scriptArgs(SCRIPT, options), ROOT));
}

function rememberedAddresses(path: string, peerId: string): string[] {
  const raw = openConnection(path, { readOnly: true });
  try {
    return raw.prepare('SELECT address FROM ahenk_peer_addresses WHERE peer_id = ?').values(peerId).map(([a]) => a as string);
  } finally {
    raw.close();
  }
}

let pair: NamespacePair | undefined;
afterAll(() => pair?.remove());

describe.skipIf(skipReason !== undefined)('network changes in network namespaces', () => {
  it('a device that gains an address listens and announces on it, and its peer remembers it', { timeout: 60_000 }, async () => {
    const a = openDevice('a');
    const b = openDevice('b');
    const idA = getDeviceId(a);
    await authorizePeers(a, [getDeviceId(b)]);
    await authorizePeers(b, [idA]);
    a.$connection.close();
    b.$connection.close();

    pair = createNamespacePair();
    const children: Child[] = [];
    const report = (): string => reportChildren(children);
    try {
      const ca = run(pair, 0, { dbPath: a.path });
      children.push(ca);
      await waitFor(() => find(ca, 'started') !== undefined, 20_000, `A to start\n${report()}`);
      const port = find(ca, 'started')!['port'] as number;
      expect(find(ca, 'started')!['addresses']).toContain(`/ip4/${pair.addresses[0]}/tcp/${port}/p2p/${idA}`);
      const cb = run(pair, 1, { dbPath: b.path, bootstrapPeers: [`/ip4/${pair.addresses[0]}/tcp/${port}/p2p/${idA}`] });
      children.push(cb);
      await waitFor(() => find(cb, 'sync:complete') !== undefined, 20_000, `B to sync with A\n${report()}`);

      // A new address on A's link, as when a laptop joins another network.
      execFileSync('ip', ['-n', pair.names[0], 'addr', 'add', '10.201.0.1/24', 'dev', pair.links[0]]);
      await waitFor(() => find(ca, 'network:change') !== undefined, 5_000, `A to notice the new address\n${report()}`);
      const change = find(ca, 'network:change')!;
      expect(change['added']).toEqual([`${pair.links[0]} 10.201.0.1`]);
      expect(change['addresses']).toContain(`/ip4/10.201.0.1/tcp/${port}/p2p/${idA}`);
      // Announced to B, which keeps it for the next time it looks for A.
      await waitFor(() => rememberedAddresses(b.path, idA).includes(`/ip4/10.201.0.1/tcp/${port}`), 10_000, `B to remember A's new address\n${report()}`);

      for (const child of children) child.process.stdin.write('stop\n');
      await waitFor(() => children.every((c) => find(c, 'stopped') !== undefined), 10_000, `both to stop\n${report()}`);
      expect(await Promise.all(children.map((c) => c.exited))).toEqual([0, 0]);
    } finally {
      killScripts(children);
      pair.remove();
      pair = undefined;
    }
  });

  it('a network change makes a device dial at once an address that failed before', { timeout: 60_000 }, async () => {
    const a = openDevice('a');
    const b = openDevice('b');
    const idB = getDeviceId(b);
    await authorizePeers(a, [idB]);
    await authorizePeers(b, [getDeviceId(a)]);
    // A remembers B on a network neither is on yet; B keeps the port A remembers.
    storeKeptPort(b.$connection, 24_001);
    rememberPeer(a.$connection, idB, ['/ip4/10.201.0.2/tcp/24001']);
    a.$connection.close();
    b.$connection.close();

    pair = createNamespacePair();
    const children: Child[] = [];
    const report = (): string => reportChildren(children);
    try {
      const cb = run(pair, 1, { dbPath: b.path });
      children.push(cb);
      await waitFor(() => find(cb, 'started') !== undefined, 20_000, `B to start\n${report()}`);
      // A retries a lost peer only after a minute: only the network change can bring them together sooner.
      const ca = run(pair, 0, { dbPath: a.path, reconnectInitialDelayMs: 60_000 });
      children.push(ca);
      await waitFor(() => find(ca, 'peer:unreachable') !== undefined, 20_000, `A to fail to reach B\n${report()}`);
      const failed = find(ca, 'peer:unreachable')!;
      expect(failed['tried']).toEqual([{ address: '/ip4/10.201.0.2/tcp/24001', error: expect.stringMatching(/ENETUNREACH|EHOSTUNREACH|unreachable/i) }]);

      execFileSync('ip', ['-n', pair.names[1], 'addr', 'add', '10.201.0.2/24', 'dev', pair.links[1]]);
      execFileSync('ip', ['-n', pair.names[0], 'addr', 'add', '10.201.0.1/24', 'dev', pair.links[0]]);
      await waitFor(() => find(ca, 'sync:complete') !== undefined, 10_000, `A to reach B after the change\n${report()}`);
      expect(find(ca, 'network:change')).toBeDefined();

      for (const child of children) child.process.stdin.write('stop\n');
      await waitFor(() => children.every((c) => find(c, 'stopped') !== undefined), 10_000, `both to stop\n${report()}`);
    } finally {
      killScripts(children);
      pair.remove();
      pair = undefined;
    }
  });

  it('ahenk pair / join / start with no network flags: the devices find each other again', { timeout: 120_000 }, async () => {
    const dir = tempDir();
    const laptop = appDatabase(dir, 'laptop', { id: 'before-pairing', title: 'written on the laptop' });
    const phone = appDatabase(dir, 'phone');
    pair = createNamespacePair();
    const ns = pair;
    const processes: CliChild[] = [];
    const cli = (index: 0 | 1, args: string[], env: Record<string, string> = {}): CliChild => {
      const child = cliChild(ns.spawn(index, 'env', [...Object.entries(env).map(([k, v]) => `${k}=${v}`), process.execPath, BIN, ...args], ROOT));
      processes.push(child);
      return child;
    };
    try {
      expect(await cli(0, ['init', '--db', laptop, '--user', 'ayse', '--email', 'ayse@example.test'], { AHENK_PASSWORD: PASSWORD }).exited).toBe(0);
      const pairing = cli(0, ['pair', '--db', laptop]);
      const code = await pairing.line(/^ahenk-pair:1:/);
      const joining = cli(1, ['join', code, '--db', phone, '--device-type', 'phone']);
      expect(await joining.exited).toBe(0);
      expect(await pairing.exited).toBe(0);

      for (const [path, id] of [[laptop, 'from-laptop'], [phone, 'from-phone']] as const) {
        const raw = openConnection(path);
        raw.prepare('INSERT INTO todos (id, title) VALUES (?, ?)').run(id, `written later as ${id}`);
        raw.close();
      }
      const laptopNode = cli(0, ['start', '--db', laptop]);
      const phoneNode = cli(1, ['start', '--db', phone]);
      await laptopNode.line(/ synced with /, 30_000);
      await phoneNode.line(/ synced with /, 30_000);
      await waitFor(() => [laptop, phone].every((path) => Object.keys(todoTitles(path)).length === 3), 10_000, 'both devices to hold every row');
      for (const path of [laptop, phone]) expect(Object.keys(todoTitles(path))).toEqual(['before-pairing', 'from-laptop', 'from-phone']);
      for (const node of [laptopNode, phoneNode]) node.child.kill('SIGINT');
      expect(await Promise.all([laptopNode.exited, phoneNode.exited])).toEqual([0, 0]);
    } finally {
      for (const child of processes) if (child.child.exitCode === null) child.child.kill('SIGKILL');
      ns.remove();
      pair = undefined;
    }
  });
});

interface CliChild {
  child: ChildProcessWithoutNullStreams;
  line(pattern: RegExp, timeoutMs?: number): Promise<string>;
  exited: Promise<number | null>;
}

/** Output lines of a CLI process in a namespace, awaitable one pattern at a time. */
function cliChild(child: ChildProcessWithoutNullStreams): CliChild {
  const lines: string[] = [];
  const errors: string[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => lines.push(line));
  createInterface({ input: child.stderr }).on('line', (line) => errors.push(line));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  let done = false;
  void exited.then(() => (done = true));
  const line = async (pattern: RegExp, timeoutMs = 20_000): Promise<string> => {
    await waitFor(() => done || lines.some((l) => pattern.test(l)), timeoutMs, `a line matching ${pattern}; stdout:\n${lines.join('\n')}\nstderr:\n${errors.join('\n')}`);
    const found = lines.find((l) => pattern.test(l));
    if (found === undefined) throw new Error(`exited before printing ${pattern}; stdout:\n${lines.join('\n')}\nstderr:\n${errors.join('\n')}`);
    return found;
  };
  return { child, line, exited };
}
