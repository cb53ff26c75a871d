/** Two devices of one user, each on the other's device list: the start of most node tests. */
import { getDeviceId } from '../../src/database/identity.ts';
import { openDevice } from '../helpers/db.ts';
import { authorizePeers } from '../net/fixtures.ts';

export type Device = ReturnType<typeof openDevice>;

export async function pairedDevices(): Promise<[Device, Device]> {
  const a = openDevice('a');
  const b = openDevice('b');
  await authorizePeers(a, [getDeviceId(b)]);
  await authorizePeers(b, [getDeviceId(a)]);
  return [a, b];
}
