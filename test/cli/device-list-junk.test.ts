/**
 * Review: any device on the list can write any value into revoked_at, and `max` keeps the largest
 * forever (text sorts above every number). The CLI formats it as a date.
 */
import { describe, expect, it } from 'vitest';
import { getOplogEntriesSince, merge } from '../../src/index.ts';
import { openDevice } from '../helpers/db.ts';
import { cli } from './helpers.ts';

describe('a junk revoked_at from one device', () => {
  it('does not break `ahenk device list` on the others', async () => {
    const victim = openDevice('victim');
    const peer = openDevice('peer');
    // A record the peer made up (or a buggy app wrote), revoked "at" a time Date cannot hold.
    peer.$connection.prepare(`INSERT INTO ahenk_devices (id, user_id, device_type, created_at, revoked_at) VALUES ('junk', 'u', 'x', 0, 'soon')`).run();
    merge(victim, getOplogEntriesSince(peer).entries);
    victim.$connection.close();
    const result = await cli(['device', 'list', '--db', victim.path]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });
});
