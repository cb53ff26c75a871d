/**
 * What createSyncNode refuses before it starts anything: bad addresses, a database without an
 * identity, and mDNS on a machine whose network is not an isolated test link.
 */
import { describe, expect, it } from 'vitest';
import { assertIsolatedNetwork } from '../../src/sync/node/mdns-guard.ts';
import { createSyncNode, MdnsUnsafeError, NodeConfigError } from '../../src/sync/node/index.ts';
import { openDevice, openRaw } from '../helpers/db.ts';

describe('createSyncNode refuses', () => {
  it.each([
    [{ listenAddresses: ['not a multiaddr'] }, /listenAddresses: "not a multiaddr" is not a valid multiaddr/],
    [{ listenAddresses: [] }, /at least one address/],
    [{ bootstrapPeers: ['/ip4/127.0.0.1/tcp/x'] }, /bootstrapPeers/],
    [{ relayServers: ['/ip4/127.0.0.1/tcp/4001'] }, /must end with \/p2p\/<relay peer id>/],
    [{ syncIntervalMs: -1 }, /syncIntervalMs must be zero or a positive number/],
    [{ reconnectInitialDelayMs: 0 }, /reconnectInitialDelayMs must be a positive number/],
  ])('a bad config %j', async (config, message) => {
    const db = openDevice();
    const error = await createSyncNode(db, config).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NodeConfigError);
    expect(error).toMatchObject({ code: 'NODE_CONFIG_INVALID', message: expect.stringMatching(message) });
  });

  it('a database that initializeDatabase never opened', async () => {
    const raw = openRaw(':memory:');
    raw.exec('CREATE TABLE ahenk_meta (key text PRIMARY KEY, value text NOT NULL)');
    await expect(createSyncNode(raw, { listenAddresses: ['/ip4/127.0.0.1/tcp/0'] })).rejects.toThrow(/no device identity/);
  });

  it('mDNS outside an isolated network namespace, unless the caller opts in', async () => {
    // The guard itself starts nothing. Only if it refuses here is createSyncNode asked, so a guard
    // that wrongly passed could never make this test start mDNS on the host.
    const isolated = await assertIsolatedNetwork().then(
      () => true,
      (error: unknown) => {
        expect(error).toBeInstanceOf(MdnsUnsafeError);
        expect((error as Error).message).toMatch(/mdnsInterfaceCheck: false/);
        return false;
      },
    );
    if (isolated) {
      console.warn('this test runs inside an isolated lo+veth namespace: the host refusal cannot be shown here');
      return;
    }
    const db = openDevice();
    const error = await createSyncNode(db, { listenAddresses: ['/ip4/127.0.0.1/tcp/0'], enableMdns: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MdnsUnsafeError);
    expect(error).toMatchObject({ code: 'MDNS_UNSAFE_NETWORK', name: 'MdnsUnsafeError' });
  });
});
