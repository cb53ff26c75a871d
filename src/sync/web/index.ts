// The web page's sync node (in the database worker): WebSockets, Noise, Yamux, identify, and the
// same sessions as a Node SyncNode. No Node built-in is reached from here.
export { createWebSyncNode, WebSyncNode, type WebConnectedPeer, type WebSyncConfig } from './node.ts';
export { installPageRtc, webRtcAvailable } from './rtc-shim.ts';
export type { RtcIceServer } from './rtc-messages.ts';
