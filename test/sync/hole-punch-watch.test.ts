/**
 * HolePunchWatch: after a failed direct dial, a peer still reached only through a relay when
 * DCUtR's time is up is reported once; one upgraded meanwhile, or gone, is not; stop cancels.
 * (The real thing behind two NATs: test/net/nat.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import type { PeerPath } from '../../src/sync/node/events.ts';
import { HolePunchWatch } from '../../src/sync/node/hole-punch-watch.ts';

function watch(paths: Map<string, PeerPath>, stop = new AbortController()): { watch: HolePunchWatch; reports: string[]; stop: AbortController } {
  const reports: string[] = [];
  const host = {
    pathOf: (peerId: string) => paths.get(peerId) ?? 'direct',
    isConnected: (peerId: string) => paths.has(peerId),
    report: (peerId: string, error: string, waitedMs: number) => void reports.push(`${peerId} ${error} ${waitedMs}`),
    stopSignal: stop.signal,
  };
  return { watch: new HolePunchWatch(host, 30), reports, stop };
}

const later = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('HolePunchWatch', () => {
  it('reports a peer still relayed once the wait is over, once per failure episode', async () => {
    const paths = new Map<string, PeerPath>([['a', 'relayed'], ['b', 'relayed'], ['c', 'relayed']]);
    const { watch: w, reports } = watch(paths);
    w.directDialFailed('a', 'ECONNREFUSED');
    w.directDialFailed('a', 'again');
    w.directDialFailed('b', 'timeout');
    w.directDialFailed('c', 'timeout');
    paths.set('b', 'hole-punched');
    paths.delete('c');
    await later(300);
    expect(reports).toEqual(['a ECONNREFUSED 30']);
  });

  it('reports nothing after stop', async () => {
    const { watch: w, reports, stop } = watch(new Map([['a', 'relayed']]));
    w.directDialFailed('a', 'x');
    stop.abort();
    w.directDialFailed('a', 'y');
    await later(300);
    expect(reports).toEqual([]);
  });
});
