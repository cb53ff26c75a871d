import type { BrowserDatabase } from 'ahenk/browser';
import type { schema } from './schema.ts';

type Ahenk = BrowserDatabase<typeof schema>;

/**
 * Sync with the Node device at `deviceAddress` (the page's `?device=`, a /ws multiaddr that
 * `npm run demo:web` sets): dial it, and call `onChange` whenever entries arrive. Sync runs only
 * once this page is on the device list (pairing below); before that the device connects but
 * refuses to sync. Resolves with a line for the status bar.
 */
export async function connectSync(ahenk: Ahenk, deviceAddress: string | undefined, onChange: () => void): Promise<string> {
  ahenk.sync.on('sync:progress', onChange);
  ahenk.sync.on('sync:complete', onChange);
  if (deviceAddress === undefined) return 'not syncing: no device address (open the page with ?device=<its /ws address>)';
  try {
    const peerId = await ahenk.sync.dial(deviceAddress);
    const [peer] = (await ahenk.sync.peers()).filter((p) => p.peerId === peerId);
    return peer?.authorized ? `syncing with ${peerId.slice(0, 16)}…` : `connected to ${peerId.slice(0, 16)}…, not paired yet: join with its code`;
  } catch (error) {
    return `could not reach the Node device: ${(error as Error).message}`;
  }
}

/**
 * Joins the user's devices with `code`: the long pairing code, or the short code (ABCDE-FGHJK)
 * with `deviceAddress`, after the person confirmed that both screens show the same confirmation code.
 */
export async function joinDevices(ahenk: Ahenk, code: string, deviceAddress: string | undefined): Promise<string> {
  try {
    const joined = await ahenk.pairing.join(code, {
      deviceType: 'browser',
      ...(deviceAddress === undefined ? {} : { from: deviceAddress }),
      confirm: (confirmation) => window.confirm(`Does the other device show the confirmation code ${confirmation}?`),
    });
    return `paired with ${joined.userName}'s devices: syncing with ${joined.authorizer.slice(0, 16)}…`;
  } catch (error) {
    const { code: reason, message } = error as { code?: string; message: string };
    return `pairing failed${reason === undefined ? '' : ` (${reason})`}: ${message}`;
  }
}
