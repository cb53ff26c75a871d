/**
 * Shared by the node tests and the namespace node scripts: putting two devices on one user's
 * device list, and waiting for a condition without sleeping blindly.
 */
import { authorizeDevice } from '../../src/auth/devices.ts';
import { registerUser } from '../../src/auth/accounts.ts';
import { getDeviceId } from '../../src/database/identity.ts';
import type { DatabaseHandle } from '../../src/sqlite/index.ts';

/** Registers a user on `db` and authorizes the given peer ids (and `db`'s own device) for it. */
export async function authorizePeers(db: DatabaseHandle, peerIds: readonly string[]): Promise<void> {
  const user = await registerUser(db, `owner-${Math.random().toString(36).slice(2, 8)}`, `owner-${Date.now()}-${Math.random()}@example.test`, 'correct horse battery');
  authorizeDevice(db, { userId: user.id, peerId: getDeviceId(db), deviceType: 'this' });
  for (const peerId of peerIds) authorizeDevice(db, { userId: user.id, peerId, deviceType: 'peer' });
}

/** Polls `check` every few milliseconds until it returns true; throws after `timeoutMs`. */
export async function waitFor(check: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
