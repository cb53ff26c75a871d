import type { BrowserDatabase } from 'ahenk/browser';
import type { schema } from './schema.ts';

/**
 * ▶ SYNC GOES HERE. The page does not sync yet: libp2p in the browser (WebSockets to a Node device)
 * is still being built. Once it lands, this is the one function to fill in: start the sync node
 * for `ahenk` and dial the Node device at `deviceAddress` (the page's `?device=`, which
 * `npm run demo:web` sets once its Node device listens on WebSockets). Until then it only says
 * so, and the todos stay in this browser's OPFS.
 */
export function connectSync(_ahenk: BrowserDatabase<typeof schema>, deviceAddress: string | undefined): string {
  return `not syncing yet: sync in the browser has not landed${deviceAddress === undefined ? '' : ` (the Node device is at ${deviceAddress})`}`;
}
