/**
 * A snapshot (src/oplog/snapshot.ts) over keys that are not plain: a key column with COLLATE
 * NOCASE (a deleted 'B-2' beside a live 'b-2'), keys like '', '123', a NUL inside, upper-case UUIDs,
 * and a key column whose affinity stores '123' as a number.
 */
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { integer, text } from 'drizzle-orm/sqlite-core';
import { describe, expect, it } from 'vitest';
import { defineSyncedTable, getOplogEntriesSince, initializeDatabase, merge, type OplogEntry } from '../../src/index.ts';
import { beginSnapshot, exportSnapshotWindow, type SnapshotPosition } from '../../src/oplog/snapshot.ts';
import { defaultAdapter, openConnection } from '../../src/sqlite/index.ts';
import { dump, tempDir } from '../helpers/db.ts';
import { canonical } from '../helpers/entries.ts';

const nulKeysExact = defaultAdapter() !== 'node:sqlite';
if (!nulKeysExact) console.warn('a key with a NUL inside is left out of the key tests: node:sqlite reads text only up to a NUL');

const notes = defineSyncedTable('notes', { id: text('id').primaryKey(), body: text('body'), n: integer('n') });
const NOCASE = 'CREATE TABLE notes (id text PRIMARY KEY NOT NULL COLLATE NOCASE, body text, n integer)';
const BINARY = 'CREATE TABLE notes (id text PRIMARY KEY NOT NULL, body text, n integer)';

function open(name: string, ddl: string) {
  const path = join(tempDir(), `${name}.db`);
  const pre = openConnection(path);
  pre.exec(ddl);
  pre.close();
  const db = initializeDatabase(path, { schema: { notes } });
  return db;
}

function snapshot(db: ReturnType<typeof open>, limit: number): OplogEntry[] {
  beginSnapshot(db.$connection);
  const out: OplogEntry[] = [];
  let at: SnapshotPosition | undefined;
  for (;;) {
    const window = exportSnapshotWindow(db.$connection, at, limit);
    out.push(...window.entries);
    if (window.next === undefined) return out;
    at = window.next;
  }
}

describe('a snapshot over keys that are not plain', () => {
  for (const [name, ddl] of [['COLLATE NOCASE', NOCASE], ['BINARY', BINARY]] as const) {
    it(`gives what an export from the start gives, key column ${name}`, () => {
      const a = open('a', ddl);
      try {
        // node:sqlite gives text back only up to a NUL: a key with one is not exact there (see the guard test).
        const ids = ['B-2', 'a-1', 'c-3', '', '123', ...(nulKeysExact ? ['a\u0000z'] : []), 'ABCDEF01-2345-4678-9abc-def012345678', 'zz'];
        for (const [i, id] of ids.entries()) a.insert(notes).values({ id, body: `b${i}`, n: i }).run();
        a.delete(notes).where(eq(notes.id, 'B-2')).run();
        a.insert(notes).values({ id: 'b-2', body: 'again' }).run();
        a.update(notes).set({ body: 'updated' }).where(eq(notes.id, nulKeysExact ? 'a\u0000z' : 'zz')).run();
        for (const limit of [1, 2, 1000]) expect(canonical(snapshot(a, limit)), `windows of ${limit}`).toEqual(canonical(getOplogEntriesSince(a).entries));
      } finally {
        a.$connection.close();
      }
    });
  }

  it('with COLLATE NOCASE, sends the delete of a key whose other case lives on, so an old peer\'s write to it stays deleted', () => {
    const a = open('a', NOCASE);
    const old = open('old', NOCASE);
    const viaExport = open('export', NOCASE);
    const viaSnapshot = open('snapshot', NOCASE);
    try {
      a.insert(notes).values({ id: 'B-2', body: 'first', n: 1 }).run();
      merge(old, getOplogEntriesSince(a).entries);
      a.delete(notes).where(eq(notes.id, 'B-2')).run();
      a.insert(notes).values({ id: 'b-2', body: 'again' }).run();
      merge(viaExport, getOplogEntriesSince(a).entries);
      merge(viaSnapshot, snapshot(a, 1));
      old.update(notes).set({ body: 'from old' }).where(eq(notes.id, 'B-2')).run();
      for (const db of [viaExport, viaSnapshot]) merge(db, getOplogEntriesSince(old).entries);
      expect(dump(viaSnapshot, 'notes')).toEqual(dump(viaExport, 'notes'));
    } finally {
      for (const db of [a, old, viaExport, viaSnapshot]) db.$connection.close();
    }
  });

  it('reads a key column that stores \'123\' as a number without failing, and sends that row', () => {
    const a = open('a', 'CREATE TABLE notes (id STRING PRIMARY KEY NOT NULL, body text, n integer)');
    try {
      for (const id of ['123', 'abc', '7']) a.insert(notes).values({ id, body: `row ${id}` }).run();
      expect(a.$connection.prepare("SELECT typeof(id) FROM notes WHERE body = 'row 123'").value()).toBe('integer');
      for (const limit of [1, 10]) expect(snapshot(a, limit).map((e) => e.pk).sort()).toEqual(['123', '7', 'abc']);
    } finally {
      a.$connection.close();
    }
  });

  it('with a NUL inside a key: exact where the driver reads it back whole, an error (not a loop) on node:sqlite', () => {
    const a = open('a', BINARY);
    try {
      for (const id of ['a\u0000z', 'b']) a.insert(notes).values({ id, body: id }).run();
      if (nulKeysExact) expect(canonical(snapshot(a, 1))).toEqual(canonical(getOplogEntriesSince(a).entries));
      else expect(() => snapshot(a, 1)).toThrow(/does not move past a key/);
    } finally {
      a.$connection.close();
    }
  });
});
