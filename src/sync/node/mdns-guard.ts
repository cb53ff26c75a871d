/**
 * The mDNS safety rule: @libp2p/mdns joins the multicast group on every interface and has no
 * option to limit it, so a node starts mDNS only where every interface with an address is `lo`
 * or a veth link and there is no default route: an isolated network namespace made by a test.
 * Anywhere else the caller must opt in with `mdnsInterfaceCheck: false`.
 */
import { execFile } from 'node:child_process';
import { networkInterfaces } from 'node:os';
import { promisify } from 'node:util';
import { MdnsUnsafeError } from './errors.ts';

const run = promisify(execFile);
const HOW_TO_OPT_IN =
  'mDNS announces this device on every attached network. On a network you trust (a home LAN), ' +
  'start the node with { enableMdns: true, mdnsInterfaceCheck: false }.';

interface LinkInfo {
  ifname: string;
  linkinfo?: { info_kind?: string };
}

/** Throws MdnsUnsafeError unless this process sits in an isolated lo + veth network. */
export async function assertIsolatedNetwork(): Promise<void> {
  const addressed = Object.entries(networkInterfaces())
    .filter(([, addresses]) => (addresses ?? []).length > 0)
    .map(([name]) => name);
  let links: LinkInfo[];
  let defaultRoutes: unknown[];
  try {
    links = JSON.parse((await run('ip', ['-details', '-json', 'link', 'show'])).stdout) as LinkInfo[];
    const v4 = JSON.parse((await run('ip', ['-json', '-4', 'route', 'show', 'default'])).stdout || '[]') as unknown[];
    const v6 = JSON.parse((await run('ip', ['-json', '-6', 'route', 'show', 'default'])).stdout || '[]') as unknown[];
    defaultRoutes = [...v4, ...v6];
  } catch (error) {
    throw new MdnsUnsafeError(
      `enableMdns: cannot inspect the network interfaces with iproute2 (${(error as Error).message}), so mDNS stays off. ${HOW_TO_OPT_IN}`,
      addressed,
    );
  }
  const kinds = new Map(links.map((l) => [l.ifname, l.linkinfo?.info_kind]));
  const unsafe = addressed.filter((name) => name !== 'lo' && kinds.get(name) !== 'veth');
  if (unsafe.length > 0) {
    throw new MdnsUnsafeError(
      `enableMdns: refusing to multicast on ${unsafe.join(', ')}; mDNS starts by itself only inside an isolated ` +
        `network namespace (interfaces lo and veth only). ${HOW_TO_OPT_IN}`,
      addressed,
    );
  }
  if (defaultRoutes.length > 0) {
    throw new MdnsUnsafeError(
      `enableMdns: refusing to multicast: this network has a default route, so it is not an isolated test link. ${HOW_TO_OPT_IN}`,
      addressed,
    );
  }
}
