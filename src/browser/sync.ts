/**
 * The leader's side of sync: one web sync node (src/sync/web) over the database, in the worker
 * that holds it (tabs.ts), started by a tab's first sync request, its events posted to every tab.
 * The node reads and writes the worker's SQLite connection itself; nothing of a batch crosses to a page.
 */
import type { AhenkDatabase } from '../database/initialize.ts';
import { createWebSyncNode, type WebSyncConfig, type WebSyncNode } from '../sync/web/index.ts';
import { remoteError, type SyncWork } from './messages.ts';
import { WorkerInvitation } from './invitation.ts';
import { WorkerPairing } from './pairing.ts';
import { SYNC_EVENT_NAMES, type SyncEventMessage } from './sync-messages.ts';

export class WorkerSync {
  #node: Promise<WebSyncNode> | undefined;
  readonly #pairing = new WorkerPairing((message) => this.post(message));
  readonly #invitation = new WorkerInvitation();

  constructor(
    private readonly db: AhenkDatabase<Record<string, unknown>>,
    private readonly config: WebSyncConfig,
    private readonly post: (message: SyncEventMessage) => void,
  ) {}

  /** Answers one sync request (the node starts on the first one that needs it). */
  async answer(request: SyncWork): Promise<unknown> {
    if (request.op === 'stop') return this.stop();
    if (request.op === 'confirm') return this.#pairing.answer(request.pairing, request.same);
    if (request.op === 'invited') return this.#invitation.accepted(request.invitation);
    if (request.op === 'uninvite') return this.#invitation.cancel(request.invitation);
    const node = await this.node();
    switch (request.op) {
      case 'dial':
        if (typeof request.address !== 'string') throw new TypeError('dial takes a multiaddr string');
        return node.dial(request.address);
      case 'peers':
        return node.peers();
      case 'syncNow':
        return node.syncNow();
      case 'join': {
        const { code, deviceType, from, pairing } = request;
        return this.#pairing.join(this.db, node, { code, deviceType, pairing, ...(from === undefined ? {} : { from }) });
      }
      case 'invite': {
        const { relay, relayToken, deviceType, ttlMs } = request;
        return this.#invitation.invite(this.db, node, { relay, deviceType, ...(relayToken === undefined ? {} : { relayToken }), ...(ttlMs === undefined ? {} : { ttlMs }) });
      }
      default:
        throw new TypeError(`unknown sync request ${JSON.stringify((request as { op?: unknown }).op)}`);
    }
  }

  /** Stops the node, if it runs: its sessions end before the database closes. */
  async stop(): Promise<null> {
    const node = this.#node;
    this.#node = undefined;
    if (node !== undefined) await (await node.catch(() => undefined))?.stop();
    return null;
  }

  private node(): Promise<WebSyncNode> {
    this.#node ??= createWebSyncNode(this.db, this.config).then((node) => {
      for (const name of SYNC_EVENT_NAMES) {
        node.on(name, (event: unknown) => {
          const shown = name === 'error' ? { ...(event as object), error: remoteError((event as { error: unknown }).error) } : event;
          this.post({ kind: 'sync-event', name, event: shown });
        });
      }
      return node;
    });
    this.#node.catch(() => (this.#node = undefined));
    return this.#node;
  }
}
