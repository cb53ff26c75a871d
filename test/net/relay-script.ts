/**
 * A relay in a network namespace, driven by test/net/nat.test.ts: createRelayNode on the given
 * address with the given state file and admitted devices; prints one JSON line per event and its
 * counters on 'stats' (a line on stdin); on 'stop' it stops and exits by itself.
 *
 * Run as: ip netns exec NS node --import tsx test/net/relay-script.ts '<json options>'
 */
import { createInterface } from 'node:readline';
import { createRelayNode } from '../../src/sync/relay/index.ts';

interface ScriptOptions {
  stateFile: string;
  listen: string[];
  admit: string[];
}

const options = JSON.parse(process.argv[2] ?? '{}') as ScriptOptions;
const print = (event: string, fields: Record<string, unknown> = {}): void => {
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
};

const relay = await createRelayNode({ stateFile: options.stateFile, listenAddresses: options.listen, admit: options.admit, statusIntervalMs: 0, log: (message) => print('log', { message }) });
print('started', { peerId: relay.peerId, addresses: relay.getMultiaddrs() });
const input = createInterface({ input: process.stdin });
input.on('line', (line) => {
  const command = line.trim();
  if (command === 'stats') print('stats', { ...relay.stats(), cpu: process.cpuUsage(), memory: process.memoryUsage() });
  if (command !== 'stop') return;
  input.close();
  process.stdin.destroy();
  void relay.stop().then(() => print('stopped'));
});
