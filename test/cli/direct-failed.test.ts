/** `ahenk start` says when a peer stays on the relay because no hole was punched (text and --json). */
import { describe, expect, it } from 'vitest';
import { EventLog } from '../../src/cli/node.ts';
import { SyncNodeEmitter } from '../../src/sync/node/events.ts';
import type { SyncNode } from '../../src/sync/node/index.ts';

function follow(json: boolean): { node: SyncNode; output: () => string } {
  let out = '';
  const log = new EventLog({ stdout: { write: (text: string) => (out += text) }, stderr: { write: () => {} }, env: {}, cwd: '/' }, json);
  const node = Object.assign(new SyncNodeEmitter(), { getMultiaddrs: () => [] }) as unknown as SyncNode;
  log.follow(node);
  return { node, output: () => out };
}

describe('the peer:direct-failed line', () => {
  it('names the peer and the reason, and says sync stays on the relay', () => {
    const text = follow(false);
    text.node.emit('peer:direct-failed', { peerId: 'P', error: 'connect ETIMEDOUT', waitedMs: 25_000 });
    expect(text.output()).toContain('no direct path to P (connect ETIMEDOUT; no hole punched); sync stays on the relay');
    const json = follow(true);
    json.node.emit('peer:direct-failed', { peerId: 'P', error: 'connect ETIMEDOUT', waitedMs: 25_000 });
    expect(JSON.parse(json.output().trim())).toMatchObject({ event: 'peer:direct-failed', peerId: 'P', error: 'connect ETIMEDOUT', waitedMs: 25_000 });
  });
});
