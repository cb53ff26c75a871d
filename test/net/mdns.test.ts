/**
 * Real mDNS discovery: two devices, each in its own network namespace joined by a veth pair, find
 * each other with no address given and sync a row each way. mDNS runs only inside the test's
 * namespaces (the node script would refuse anywhere else); the namespaces are always deleted.
 */
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { getDeviceId } from '../../src/database/identity.ts';
import { dump, openDevice, openRaw } from '../helpers/db.ts';
import { todos } from '../helpers/schema.ts';
import { authorizePeers, waitFor } from './fixtures.ts';
import { createNamespacePair, namespaceUnavailableReason, type NamespacePair } from './netns.ts';
import { announceSkip, collectScript, hasEvent as has, killScripts, reportChildren, ROOT, scriptArgs, type ScriptChild as Child } from './script-child.ts';

const SCRIPT = fileURLToPath(new URL('./sync-node-script.ts', import.meta.url));
const skipReason = announceSkip('test/net/mdns.test.ts', namespaceUnavailableReason());

function run(pair: NamespacePair, index: 0 | 1, options: Record<string, unknown>): Child {
  return collectScript(pair.spawn(index, process.execPath, scriptArgs(SCRIPT, options), ROOT));
}

let pair: NamespacePair | undefined;
afterAll(() => pair?.remove());

describe.skipIf(skipReason !== undefined)('mDNS in network namespaces', () => {
  it('two devices discover each other on a veth link and sync a row each way', { timeout: 60_000 }, async () => {
    const a = openDevice('a');
    const b = openDevice('b');
    const idA = getDeviceId(a);
    const idB = getDeviceId(b);
    await authorizePeers(a, [idB]);
    await authorizePeers(b, [idA]);
    a.insert(todos).values({ id: 'from-a', title: 'written in namespace A' }).run();
    b.insert(todos).values({ id: 'from-b', title: 'written in namespace B' }).run();
    a.$connection.close();
    b.$connection.close();

    pair = createNamespacePair();
    const children: Child[] = [];
    try {
      const expectRows = ['from-a', 'from-b'];
      children.push(run(pair, 0, { dbPath: a.path, ip: pair.addresses[0], expectRows }));
      children.push(run(pair, 1, { dbPath: b.path, ip: pair.addresses[1], expectRows }));
      const [ca, cb] = children as [Child, Child];
      const report = (): string => reportChildren(children);

      await waitFor(() => has(ca, 'converged') && has(cb, 'converged'), 30_000, `both devices to converge\n${report()}`);

      // Each found the other by mDNS, at its veth address: nobody was told where to dial.
      const found = (c: Child, peerId: string) => c.events.find((e) => e.event === 'peer:discovery' && e['peerId'] === peerId);
      expect(found(ca, idB), report()).toMatchObject({ authorized: true });
      expect(found(cb, idA), report()).toMatchObject({ authorized: true });
      expect(String((found(ca, idB)?.['addresses'] as string[]).join(' '))).toContain(`/ip4/${pair.addresses[1]}/tcp/`);
      expect(ca.events.find((e) => e.event === 'started')).toMatchObject({ peerId: idA });
      expect(children.flatMap((c) => c.events.filter((e) => e.event === 'error')), report()).toEqual([]);

      for (const child of children) child.process.stdin.write('stop\n');
      const codes = await Promise.race([
        Promise.all(children.map((c) => c.exited)),
        new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 10_000).unref()),
      ]);
      // The scripts only end by themselves once stop() left no socket or timer behind.
      expect(codes, report()).toEqual([0, 0]);
      for (const child of children) expect(has(child, 'stopped'), report()).toBe(true);
    } finally {
      killScripts(children);
      pair.remove();
    }

    const rowsA = dump({ $connection: openRaw(a.path) }, 'todos');
    expect(rowsA).toHaveLength(2);
    expect(isDeepStrictEqual(rowsA, dump({ $connection: openRaw(b.path) }, 'todos'))).toBe(true);
  });
});
