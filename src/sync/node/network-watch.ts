/**
 * Noticing a network change: the machine's interfaces and their addresses, looked at every few
 * seconds and compared with the last look. Node has no event for this on every platform, and a
 * poll of os.networkInterfaces() is cheap. The interface list is passed in, so tests can change it.
 */
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';

export type InterfaceList = () => NodeJS.Dict<NetworkInterfaceInfo[]>;

export interface NetworkChange {
  /** `<interface> <address>` entries that appeared since the last look, e.g. `wlan0 192.168.1.20`. */
  added: string[];
  /** Entries that went away. */
  removed: string[];
}

export interface NetworkWatcherOptions {
  intervalMs: number;
  onChange: (change: NetworkChange) => void;
  /** @default os.networkInterfaces */
  interfaces?: InterfaceList;
}

export class NetworkWatcher {
  readonly #options: NetworkWatcherOptions;
  readonly #interfaces: InterfaceList;
  #last = new Set<string>();
  #timer: NodeJS.Timeout | undefined;

  constructor(options: NetworkWatcherOptions) {
    this.#options = options;
    this.#interfaces = options.interfaces ?? networkInterfaces;
    this.#last = this.#snapshot();
  }

  start(): void {
    if (this.#timer !== undefined || this.#options.intervalMs <= 0) return;
    this.#timer = setInterval(() => {
      const change = this.check();
      if (change !== undefined) this.#options.onChange(change);
    }, this.#options.intervalMs);
    // The node's sockets keep the process alive; its watch on the network need not.
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Looks now: the change since the last look, or undefined if there is none. */
  check(): NetworkChange | undefined {
    const now = this.#snapshot();
    const added = [...now].filter((entry) => !this.#last.has(entry)).sort();
    const removed = [...this.#last].filter((entry) => !now.has(entry)).sort();
    this.#last = now;
    return added.length === 0 && removed.length === 0 ? undefined : { added, removed };
  }

  #snapshot(): Set<string> {
    const entries = new Set<string>();
    let list: NodeJS.Dict<NetworkInterfaceInfo[]>;
    try {
      list = this.#interfaces();
    } catch {
      // A failing look (a platform quirk) is no change; the next one may work.
      return this.#last;
    }
    for (const [name, infos] of Object.entries(list)) {
      for (const info of infos ?? []) entries.add(`${name} ${info.address}`);
    }
    return entries;
  }
}
