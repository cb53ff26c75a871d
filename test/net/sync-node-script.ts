/**
 * One device in a network namespace, driven by test/net/mdns.test.ts. It opens a database the
 * test prepared (authorized for the other device), starts a sync node with mDNS on its veth
 * address, and prints one JSON line per event. Once it holds every expected row it prints
 * 'converged'; on 'stop' (a line on stdin) it stops the node, prints what is still open and
 * exits by itself: if a handle were left, the process would not end and the test would see it.
 *
 * Run as: ip netns exec NS node --import tsx test/net/sync-node-script.ts '<json options>'
 */
import { createInterface } from 'node:readline';
import { initializeDatabase } from '../../src/database/initialize.ts';
import { createSyncNode } from '../../src/sync/node/index.ts';
import { schema } from '../helpers/schema.ts';

interface ScriptOptions {
  dbPath: string;
  /** The veth address to listen on, e.g. 10.200.0.1. */
  ip: string;
  /** Row ids of `todos` this device must end up holding. */
  expectRows: string[];
}

const options = JSON.parse(process.argv[2] ?? '{}') as ScriptOptions;
const print = (event: string, fields: Record<string, unknown> = {}): void => {
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
};

const db = initializeDatabase(options.dbPath, { schema });
const node = await createSyncNode(db, {
  listenAddresses: [`/ip4/${options.ip}/tcp/0`],
  enableMdns: true,
  mdnsIntervalMs: 250,
  log: (message) => print('log', { message }),
});
print('started', { peerId: node.peerId, addresses: node.getMultiaddrs() });
node.on('peer:discovery', (e) => print('peer:discovery', { ...e }));
node.on('peer:connect', (e) => print('peer:connect', { ...e }));
node.on('sync:complete', (e) => print('sync:complete', { ...e }));
node.on('error', (e) => print('error', { peerId: e.peerId, name: e.error.name, message: e.error.message }));

const rowIds = (): string[] => db.$connection.prepare('SELECT id FROM todos ORDER BY id').values().map(([id]) => id as string);
const poll = setInterval(() => {
  const ids = rowIds();
  if (options.expectRows.every((id) => ids.includes(id))) {
    clearInterval(poll);
    print('converged', { rows: ids });
  }
}, 20);

const input = createInterface({ input: process.stdin });
input.on('line', (line) => {
  if (line.trim() !== 'stop') return;
  input.close();
  process.stdin.destroy();
  clearInterval(poll);
  void node.stop().then(() => {
    db.$connection.close();
    // stdin is what this script itself holds open until readline is closed; anything else is a leak.
    print('stopped', { resources: process.getActiveResourcesInfo().filter((r) => r !== 'PipeWrap' && r !== 'TTYWrap') });
  });
});
