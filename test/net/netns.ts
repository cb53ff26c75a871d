/**
 * Two network namespaces joined by a veth pair, for tests that need real multicast (mDNS) without
 * touching the host's interfaces. Names are unique per run; `remove()` deletes both namespaces,
 * which also deletes the veth pair.
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export interface NamespacePair {
  names: [string, string];
  /** The veth ends: links[i] is inside names[i]. */
  links: [string, string];
  addresses: [string, string];
  /** Runs `command` inside namespace 0 or 1. */
  spawn(index: 0 | 1, command: string, args: string[], cwd: string): ChildProcessWithoutNullStreams;
  remove(): void;
}

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Why namespaces cannot be made here, or undefined when they can (probed by making one). */
export function namespaceUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'creating network namespaces needs root';
  const probe = `ahenk-probe-${randomBytes(4).toString('hex')}`;
  try {
    ip('netns', 'add', probe);
  } catch (error) {
    return `'ip netns add' failed: ${((error as { stderr?: string }).stderr ?? (error as Error).message).trim()}`;
  }
  try {
    ip('netns', 'del', probe);
  } catch {
    // Deleted below by name in any case; a probe that cannot be deleted is reported by the test run.
  }
  return undefined;
}

export function createNamespacePair(): NamespacePair {
  const id = randomBytes(3).toString('hex');
  const names: [string, string] = [`ahenk-${id}-a`, `ahenk-${id}-b`];
  // Interface names are limited to 15 characters.
  const links: [string, string] = [`ah${id}a`, `ah${id}b`];
  const addresses: [string, string] = ['10.200.0.1', '10.200.0.2'];
  const remove = (): void => {
    for (const name of names) {
      try {
        ip('netns', 'del', name);
      } catch {
        // Not created (setup failed early) or already gone.
      }
    }
  };
  try {
    ip('netns', 'add', names[0]);
    ip('netns', 'add', names[1]);
    ip('link', 'add', links[0], 'netns', names[0], 'type', 'veth', 'peer', 'name', links[1], 'netns', names[1]);
    for (const i of [0, 1] as const) {
      ip('-n', names[i], 'addr', 'add', `${addresses[i]}/24`, 'dev', links[i]);
      ip('-n', names[i], 'link', 'set', 'lo', 'up');
      ip('-n', names[i], 'link', 'set', links[i], 'up');
      // Without a multicast route mDNS queries have nowhere to go and nothing is found.
      ip('-n', names[i], 'route', 'add', '224.0.0.0/4', 'dev', links[i]);
    }
  } catch (error) {
    remove();
    throw error;
  }
  return {
    names,
    links,
    addresses,
    spawn: (index, command, args, cwd) => spawn('ip', ['netns', 'exec', names[index], command, ...args], { cwd, stdio: ['pipe', 'pipe', 'pipe'] }),
    remove,
  };
}
