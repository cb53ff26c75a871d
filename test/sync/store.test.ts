/**
 * The session's batch apply: a batch and the peer's cursor commit together, without waiting for
 * the disk, and the connection's own durability setting is back right after.
 */
import { describe, expect, it } from 'vitest';
import { SessionStore } from '../../src/sync/session/store.ts';
import { formatHlc, packHlc } from '../../src/clock/index.ts';
import { openDevice } from '../helpers/db.ts';

describe('SessionStore.applyBatch', () => {
  it('commits a batch with its cursor under synchronous = NORMAL and restores the connection setting', () => {
    const a = openDevice('a');
    a.$client.pragma('synchronous = FULL');
    const store = new SessionStore(a.$client);
    // Every pragma the store sets, in order, with whether a transaction was open at the time.
    const set: [string, boolean][] = [];
    const pragma = a.$client.pragma.bind(a.$client);
    a.$client.pragma = ((source: string, options?: { simple?: boolean }) => {
      if (source.includes('=')) set.push([source, a.$client.inTransaction]);
      return pragma(source, options);
    }) as typeof a.$client.pragma;
    const hlc = formatHlc(packHlc(Date.now() - 1000, 0));
    const applied = store.applyBatch('peer-x', [{ table: 'todos', pk: 'r1', op: 'insert', hlc, device: 'peer-x', cl: 1, values: { title: 'from the peer' } }], '42');
    expect(applied.merge?.applied).toBe(1);
    expect(set).toEqual([
      ['synchronous = NORMAL', false],
      ['synchronous = 2', false],
    ]);
    expect(pragma('synchronous', { simple: true })).toBe(2);
    expect(store.loadCursor('peer-x')).toBe('42');
    // A refused batch restores the setting too.
    expect(() => store.applyBatch('peer-x', [{ table: 'todos', pk: 'r2', op: 'insert', hlc, device: 'peer-x', cl: 1, values: { done: null } }], '43')).toThrow();
    expect(pragma('synchronous', { simple: true })).toBe(2);
    expect(store.loadCursor('peer-x')).toBe('42');
  });
});
