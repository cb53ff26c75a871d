/**
 * Edges of the fold's join (src/oplog/fold.ts) found by review: a wide table's masks in a run
 * longer than a pair, and a new identity with local writes not folded yet.
 */
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { integer, text, type SQLiteColumnBuilderBase } from 'drizzle-orm/sqlite-core';
import { describe, expect, it } from 'vitest';
import { compactOplog, defineSyncedTable, getOplogEntriesSince, initializeDatabase, merge, resetIdentity } from '../../src/index.ts';
import { foldOplog } from '../../src/oplog/fold.ts';
import { openConnection } from '../../src/sqlite/index.ts';
import { openDevice, tempDir } from '../helpers/db.ts';
import { todos } from '../helpers/schema.ts';

const WIDTH = 62;
const columns: Record<string, SQLiteColumnBuilderBase> = { id: text('id').primaryKey() };
for (let i = 0; i < WIDTH; i++) columns[`c${i}`] = integer(`c${i}`);
const wide = defineSyncedTable('wide', columns);

describe('the fold', () => {
  it('folds a run of a 62-column table whose last column was updated four times (the masks of a run once summed past 2^63)', () => {
    const path = join(tempDir(), 'wide.db');
    const pre = openConnection(path);
    pre.exec(`CREATE TABLE wide (id text PRIMARY KEY NOT NULL, ${Array.from({ length: WIDTH }, (_, i) => `c${i} integer`).join(', ')})`);
    pre.close();
    const a = initializeDatabase(path, { schema: { wide } });
    const raw = a.$connection;
    try {
      raw.prepare('INSERT INTO wide (id, c0) VALUES (?, 1)').run('k');
      compactOplog(a);
      for (let i = 1; i <= 4; i++) raw.prepare('UPDATE wide SET c61 = ? WHERE id = ?').run(i, 'k');
      expect(() => compactOplog(a)).not.toThrow();
      merge(a, [{ table: 'wide', pk: 'other', cl: 1, groups: [{ hlc: '0000010000000000', device: 'peer', values: { c0: 5n } }] }]);
      const exported = getOplogEntriesSince(a).entries.find((e) => e.pk === 'k')!;
      expect(exported.groups.flatMap((g) => Object.entries(g.values))).toEqual(expect.arrayContaining([['c0', 1n], ['c61', 4n]]));
    } finally {
      raw.close();
    }
  });

  for (const updates of [1, 2]) {
    it(`keeps the old device as the author of writes not folded before resetIdentity (${updates === 1 ? 'a pair, joined in SQL' : 'a run of three, joined in JS'})`, () => {
      const a = openDevice('a');
      a.insert(todos).values({ id: 'k', title: 'one' }).run();
      for (let i = 1; i <= updates; i++) a.update(todos).set(i === 1 ? { done: 1 } : { score: 2 }).where(eq(todos.id, 'k')).run();
      const oldDevice = getOplogEntriesSince(a).entries[0]!.groups[0]!.device;
      resetIdentity(a);
      const authors = () => getOplogEntriesSince(a).entries.flatMap((e) => e.groups.map((g) => `${g.hlc} ${g.device}`)).sort();
      const before = authors();
      expect(before.every((author) => author.endsWith(oldDevice))).toBe(true);
      a.$connection.transaction(() => foldOplog(a.$connection));
      expect(authors()).toEqual(before);
    });
  }
});
