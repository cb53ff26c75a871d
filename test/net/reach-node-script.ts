/**
 * One device in a network namespace, driven by test/net/reachability.test.ts. It starts a sync
 * node with no listen address (every interface, the kept port), dialling the given bootstrap
 * addresses if any, looks for network changes every 200 ms, and prints one JSON line per event
 * (`network:change` with the addresses it listens on after the change). On 'stop' (a line on
 * stdin) it stops the node and exits by itself.
 *
 * Run as: ip netns exec NS node --import tsx test/net/reach-node-script.ts '<json options>'
 */
import { networkInterfaces } from 'node:os';
import { createInterface } from 'node:readline';
import { initializeDatabase } from '../../src/database/initialize.ts';
import { createSyncNode } from '../../src/sync/node/index.ts';
import { schema } from '../helpers/schema.ts';

interface ScriptOptions {
  dbPath: string;
  bootstrapPeers?: string[];
  /** @default 200 */
  reconnectInitialDelayMs?: number;
}

const options = JSON.parse(process.argv[2] ?? '{}') as ScriptOptions;
const print = (event: string, fields: Record<string, unknown> = {}): void => {
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
};

// Listening on every interface is only safe where every interface is the test's own.
const foreign = Object.keys(networkInterfaces()).filter((name) => name !== 'lo' && !name.startsWith('ah'));
if (foreign.length > 0) {
  print('refused', { interfaces: foreign });
  process.exit(2);
}

const db = initializeDatabase(options.dbPath, { schema });
const node = await createSyncNode(db, {
  bootstrapPeers: options.bootstrapPeers ?? [],
  networkCheckIntervalMs: 200,
  reconnectInitialDelayMs: options.reconnectInitialDelayMs ?? 200,
  reconnectMaxDelayMs: Math.max(60_000, options.reconnectInitialDelayMs ?? 0),
  log: (message) => print('log', { message }),
});
print('started', { peerId: node.peerId, addresses: node.getMultiaddrs(), port: node.listenPort.kept });
node.on('peer:connect', (e) => print('peer:connect', { ...e }));
node.on('sync:complete', (e) => print('sync:complete', { ...e }));
node.on('peer:unreachable', (e) => print('peer:unreachable', { ...e }));
node.on('network:change', (e) => print('network:change', { ...e, addresses: node.getMultiaddrs() }));
node.on('error', (e) => print('error', { peerId: e.peerId, name: e.error.name, message: e.error.message }));

const input = createInterface({ input: process.stdin });
input.on('line', (line) => {
  if (line.trim() !== 'stop') return;
  input.close();
  process.stdin.destroy();
  void node.stop().then(() => {
    db.$connection.close();
    print('stopped');
  });
});
