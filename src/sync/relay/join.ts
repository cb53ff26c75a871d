/**
 * joinRelay: a device presents a relay's join token once and is admitted (its device id, proved by
 * Noise). It runs a short-lived libp2p client with the device's key, so it works whether or not a
 * sync node runs on the database; a running node gets its reservation at its next relay dial.
 */
import '../node/polyfill.ts';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { tcp } from '@libp2p/tcp';
import { webSockets } from '@libp2p/websockets';
import { createLibp2p } from 'libp2p';
import { readIdentity } from '../../database/identity.ts';
import { connectionOf, type DatabaseHandle } from '../../sqlite/index.ts';
import { parseAddresses } from '../node/config.ts';
import { DIAL_TIMEOUT_MS } from '../node/constants.ts';
import { NodeConfigError, RelayAdmissionError } from '../node/errors.ts';
import { cancelLibp2pShutdownTimers } from '../node/libp2p.ts';
import { presentJoinToken } from './admit-protocol.ts';
import { RELAY_ADMIT_PROTOCOL } from './constants.ts';
import { isJoinTokenShaped } from './token.ts';

export interface JoinRelayOptions {
  /** The relay's address, ending in `/p2p/<relay id>` (what `ahenk relay` prints). */
  relay: string;
  /** The relay's join token (what `ahenk relay` printed at its first start, or `ahenk relay token`). */
  token: string;
  signal?: AbortSignal;
}

/** Resolves with the relay's id once it admitted this device; throws RelayAdmissionError (`reason`) otherwise. */
export async function joinRelay(db: DatabaseHandle, options: JoinRelayOptions): Promise<{ relayId: string; deviceId: string }> {
  const [address] = parseAddresses('relay', [options.relay]);
  const relayId = address?.getComponents().findLast((c) => c.name === 'p2p')?.value;
  if (address === undefined || relayId === undefined) throw new NodeConfigError(`relay: ${JSON.stringify(options.relay)} does not end in /p2p/<relay id>`);
  const token = String(options.token).trim().toLowerCase();
  if (!isJoinTokenShaped(token)) throw new NodeConfigError('token: a join token is 32 characters, a-z and 2-7');
  const identity = readIdentity(connectionOf(db));
  if (identity === undefined) throw new NodeConfigError('this database has no device identity; open it with initializeDatabase first');
  const client = await createLibp2p({
    privateKey: identity.privateKey,
    transports: [tcp(), webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // A home relay lives at a private address, which the default gater refuses to dial.
    connectionGater: { denyDialMultiaddr: () => false },
  });
  try {
    const signal = AbortSignal.any([AbortSignal.timeout(DIAL_TIMEOUT_MS), ...(options.signal ? [options.signal] : [])]);
    const stream = await client.dialProtocol(address, RELAY_ADMIT_PROTOCOL, { signal }).catch((error: unknown) => {
      throw new RelayAdmissionError('UNREACHABLE', `cannot reach the relay at ${options.relay}: ${(error as Error).message}`, { cause: error });
    });
    await presentJoinToken(stream, token);
    return { relayId, deviceId: identity.deviceId };
  } finally {
    await client.stop();
    cancelLibp2pShutdownTimers(client);
  }
}
