/**
 * A NAT test topology made of network namespaces, for relay and hole-punching tests:
 *
 *   dev1 (10.1.0.2) -- nat1 [EIM: masquerade]         --\
 *                                                        pub: bridge 198.51.100.0/24, relay .1
 *   dev2 (10.2.0.2) -- nat2 [symmetric: fully-random] --/
 *
 * nat1 and nat2 masquerade their private segment behind their public address (.11, .12) with
 * nftables and forward only what the inside started (so a device is reachable from outside only
 * through a mapping it made). nat1's plain masquerade keeps one mapping per inside socket for every
 * destination (endpoint-independent, as far as Linux conntrack goes); nat2's fully-random picks a
 * new port per connection (symmetric). No link reaches the host's own namespace: no packet leaves.
 * Names are unique per run; `remove()` deletes every namespace, and with them every link.
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { namespaceUnavailableReason } from './netns.ts';

export type NatNode = 'pub' | 'nat1' | 'nat2' | 'dev1' | 'dev2';

export interface NatTopology {
  names: Record<NatNode, string>;
  relayIp: string;
  natIps: { nat1: string; nat2: string };
  spawn(node: NatNode, command: string, args: string[], cwd: string): ChildProcessWithoutNullStreams;
  /** Moves dev1 from nat1's segment to a new segment behind nat2 (10.2.1.2): a laptop carried to another network. */
  moveDev1BehindNat2(): void;
  /** Current IPv4 addresses of a namespace's interfaces (not lo). */
  addresses(node: NatNode): string[];
  remove(): void;
}

function run(command: string, args: string[], input?: string): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], ...(input === undefined ? {} : { input }) });
}

/** Why the topology cannot be made here (no root, no namespaces, no nft), or undefined. */
export function natUnavailableReason(): string | undefined {
  const namespaces = namespaceUnavailableReason();
  if (namespaces !== undefined) return namespaces;
  try {
    run('nft', ['--version']);
  } catch {
    return "nftables' nft command is not installed (apt-get install -y nftables)";
  }
  return undefined;
}

export function createNatTopology(): NatTopology {
  const id = randomBytes(3).toString('hex');
  const names: Record<NatNode, string> = { pub: `ahn-${id}-pub`, nat1: `ahn-${id}-nat1`, nat2: `ahn-${id}-nat2`, dev1: `ahn-${id}-dev1`, dev2: `ahn-${id}-dev2` };
  const ip = (node: NatNode, ...args: string[]): string => run('ip', ['-n', names[node], ...args]);
  const exec = (node: NatNode, command: string, ...args: string[]): string => run('ip', ['netns', 'exec', names[node], command, ...args]);
  // Interface names are limited to 15 characters.
  const link = (role: string): string => `a${id}${role}`;
  const remove = (): void => {
    for (const name of Object.values(names)) {
      try {
        run('ip', ['netns', 'del', name]);
      } catch {
        // Not created (setup failed early) or already gone.
      }
    }
  };
  const veth = (a: NatNode, aName: string, b: NatNode, bName: string): void => {
    run('ip', ['link', 'add', aName, 'netns', names[a], 'type', 'veth', 'peer', 'name', bName, 'netns', names[b]]);
  };
  const nat = (node: 'nat1' | 'nat2', wan: string, mode: string): void => {
    exec(node, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1');
    const rules = `table ip ahenk {
  chain forward {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    iifname != "${wan}" accept
  }
  chain postrouting {
    type nat hook postrouting priority 100;
    oifname "${wan}" masquerade${mode}
  }
}
`;
    run('ip', ['netns', 'exec', names[node], 'nft', '-f', '-'], rules);
  };
  try {
    for (const name of Object.values(names)) run('ip', ['netns', 'add', name]);
    for (const node of Object.keys(names) as NatNode[]) ip(node, 'link', 'set', 'lo', 'up');
    // The public segment: a bridge in pub, the relay on it, each NAT's WAN side plugged in.
    const bridge = link('br');
    ip('pub', 'link', 'add', bridge, 'type', 'bridge');
    ip('pub', 'addr', 'add', '198.51.100.1/24', 'dev', bridge);
    ip('pub', 'link', 'set', bridge, 'up');
    for (const [node, host] of [['nat1', '11'], ['nat2', '12']] as const) {
      const wan = link(`w${node.at(-1)}`);
      const port = link(`p${node.at(-1)}`);
      veth(node, wan, 'pub', port);
      ip('pub', 'link', 'set', port, 'master', bridge);
      ip('pub', 'link', 'set', port, 'up');
      ip(node, 'addr', 'add', `198.51.100.${host}/24`, 'dev', wan);
      ip(node, 'link', 'set', wan, 'up');
    }
    // The private segments.
    for (const [dev, node, net] of [['dev1', 'nat1', '1'], ['dev2', 'nat2', '2']] as const) {
      const inside = link(`d${net}`);
      const gateway = link(`l${net}`);
      veth(dev, inside, node, gateway);
      ip(node, 'addr', 'add', `10.${net}.0.1/24`, 'dev', gateway);
      ip(node, 'link', 'set', gateway, 'up');
      ip(dev, 'addr', 'add', `10.${net}.0.2/24`, 'dev', inside);
      ip(dev, 'link', 'set', inside, 'up');
      ip(dev, 'route', 'add', 'default', 'via', `10.${net}.0.1`);
    }
    nat('nat1', link('w1'), '');
    nat('nat2', link('w2'), ' fully-random');
  } catch (error) {
    remove();
    throw error;
  }
  return {
    names,
    relayIp: '198.51.100.1',
    natIps: { nat1: '198.51.100.11', nat2: '198.51.100.12' },
    spawn: (node, command, args, cwd) => spawn('ip', ['netns', 'exec', names[node], command, ...args], { cwd, stdio: ['pipe', 'pipe', 'pipe'] }),
    moveDev1BehindNat2: () => {
      ip('dev1', 'link', 'del', link('d1'));
      veth('dev1', link('m1'), 'nat2', link('k1'));
      ip('nat2', 'addr', 'add', '10.2.1.1/24', 'dev', link('k1'));
      ip('nat2', 'link', 'set', link('k1'), 'up');
      ip('dev1', 'addr', 'add', '10.2.1.2/24', 'dev', link('m1'));
      ip('dev1', 'link', 'set', link('m1'), 'up');
      ip('dev1', 'route', 'add', 'default', 'via', '10.2.1.1');
    },
    addresses: (node) =>
      ip(node, '-4', '-o', 'addr', 'show')
        .split('\n')
        .filter((line) => line.length > 0 && !/ lo /.test(line))
        .map((line) => /inet (\S+)\//.exec(line)?.[1] ?? '')
        .filter((a) => a.length > 0),
    remove,
  };
}
