/**
 * The page's handle on the sync node (`db.sync`), which runs in the worker holding the database
 * (tabs.ts): the names of a Node SyncNode (dial, peers, syncNow, on, stop), each a message to the
 * tab's worker, which passes it on, and the node's events as the worker posts them.
 */
import type { SyncCompleteEvent } from '../sync/node/events.ts';
import type { WebConnectedPeer } from '../sync/web/index.ts';
import type { SyncWork } from './messages.ts';
import type { BrowserSyncEvents, PairingConfirmEvent, SyncEventMessage, SyncEventName } from './sync-messages.ts';

export interface BrowserSync {
  /**
   * Connects to a device's WebSocket address (`/ip4/192.168.1.20/tcp/41235/ws/p2p/12D3KooW…`, one
   * of the `listening on` lines of `ahenk start`); resolves with its device id. Sync starts by
   * itself when the device is on this database's device list, runs live, and resumes from its
   * cursor after a disconnect (the address is dialled again, with backoff) or a reload (dial again).
   */
  dial(address: string): Promise<string>;
  /** Peers with an open connection, and whether a sync session runs with each. */
  peers(): Promise<WebConnectedPeer[]>;
  /** Makes sure every connected device on the list has a session; resolves once each caught up. */
  syncNow(): Promise<SyncCompleteEvent[]>;
  /** Listens to the node's events; the returned function stops listening. */
  on<K extends SyncEventName>(name: K, listener: (event: BrowserSyncEvents[K]) => void): () => void;
  /** Ends the sessions and connections, for every tab (the database stays open; `dial` starts the node again). */
  stop(): Promise<void>;
}

/** The page side of sync, over the page's call to the worker; `deliver` takes the worker's sync events. */
export function browserSync(call: <T>(request: SyncWork) => Promise<T>): { sync: BrowserSync; deliver: (message: Exclude<SyncEventMessage, PairingConfirmEvent>) => void } {
  const listeners = new Map<SyncEventName, Set<(event: never) => void>>();
  const sync: BrowserSync = {
    dial: (address) => call({ kind: 'sync', op: 'dial', address }),
    peers: () => call({ kind: 'sync', op: 'peers' }),
    syncNow: () => call({ kind: 'sync', op: 'syncNow' }),
    on: (name, listener) => {
      let set = listeners.get(name);
      if (set === undefined) listeners.set(name, (set = new Set()));
      set.add(listener as (event: never) => void);
      return () => void set.delete(listener as (event: never) => void);
    },
    stop: async () => {
      await call({ kind: 'sync', op: 'stop' });
    },
  };
  const deliver = (message: Exclude<SyncEventMessage, PairingConfirmEvent>): void => {
    for (const listener of listeners.get(message.name) ?? []) {
      try {
        (listener as (event: unknown) => void)(message.event);
      } catch (error) {
        // A listener's failure is the app's: report it without stopping the others.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  };
  return { sync, deliver };
}
