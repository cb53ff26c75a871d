/**
 * One device behind a NAT, driven by test/net/nat.test.ts: a sync node listening on every
 * interface of its namespace, with the relay in `relayServers`. Prints one JSON line per event
 * (paths, connects, catch-ups, log lines), and on 'peers' (a line on stdin) its peers and their
 * paths; on 'stop' it stops the node and exits by itself.
 *
 * Run as: ip netns exec NS node --import tsx test/net/nat-device-script.ts '<json options>'
 */
import { createInterface } from 'node:readline';
import { initializeDatabase } from '../../src/database/initialize.ts';
import { createSyncNode } from '../../src/sync/node/index.ts';
import { schema } from '../helpers/schema.ts';

interface ScriptOptions {
  dbPath: string;
  /** The relay's address; absent for a device that dials its peer directly. */
  relay?: string;
  /** Where to listen. @default ['/ip4/0.0.0.0/tcp/0'] */
  listen?: string[];
  /** Peers to dial (bench/relay.ts's direct runs). */
  peers?: string[];
}

const options = JSON.parse(process.argv[2] ?? '{}') as ScriptOptions;
const print = (event: string, fields: Record<string, unknown> = {}): void => {
  process.stdout.write(`${JSON.stringify({ time: Date.now(), event, ...fields })}\n`);
};

const db = initializeDatabase(options.dbPath, { schema });
const node = await createSyncNode(db, {
  listenAddresses: options.listen ?? ['/ip4/0.0.0.0/tcp/0'],
  relayServers: options.relay === undefined ? [] : [options.relay],
  bootstrapPeers: options.peers ?? [],
  reconnectInitialDelayMs: 250,
  reconnectMaxDelayMs: 2_000,
  log: (message) => print('log', { message }),
});
print('started', { peerId: node.peerId, addresses: node.getMultiaddrs() });
node.on('peer:connect', (e) => print('peer:connect', { ...e }));
node.on('peer:path', (e) => print('peer:path', { ...e }));
node.on('peer:direct-failed', (e) => print('peer:direct-failed', { ...e }));
node.on('peer:disconnect', (e) => print('peer:disconnect', { ...e }));
node.on('sync:complete', (e) => print('sync:complete', { ...e }));
node.on('error', (e) => print('error', { peerId: e.peerId, name: e.error.name, message: e.error.message }));

const input = createInterface({ input: process.stdin });
input.on('line', (line) => {
  const command = line.trim();
  if (command === 'peers') print('peers', { peers: node.peers(), addresses: node.getMultiaddrs() });
  if (command !== 'stop') return;
  input.close();
  process.stdin.destroy();
  void node.stop().then(() => {
    db.$connection.close();
    print('stopped', { resources: process.getActiveResourcesInfo().filter((r) => r !== 'PipeWrap' && r !== 'TTYWrap') });
  });
});
