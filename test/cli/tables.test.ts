/**
 * `ahenk tables` and `ahenk tables add` (issue 10, item 12): a database made without TypeScript
 * (tables created in the sqlite3 shell's way) lists which tables sync; `tables add` makes an
 * existing table sync with the same rules as defineSyncedTable, logs its existing rows, and what
 * it logged reaches another device.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getOplogEntriesSince, initializeDatabase, merge } from '../../src/index.ts';
import { openConnection } from '../../src/sqlite/index.ts';
import { cli, tempDir } from './helpers.ts';

function plainDatabase(dir: string, name: string): string {
  const path = join(dir, `${name}.db`);
  const raw = openConnection(path);
  raw.exec(`
    CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT NOT NULL DEFAULT '', stars INTEGER);
    CREATE TABLE counts (n INTEGER PRIMARY KEY, label TEXT);
    CREATE TABLE strict_notes (id TEXT PRIMARY KEY, body TEXT NOT NULL);
    CREATE TABLE tagged (id TEXT PRIMARY KEY, tag TEXT UNIQUE);
    INSERT INTO notes (id, body, stars) VALUES ('n1', 'first', 3), ('n2', 'second', NULL);
  `);
  raw.close();
  return path;
}

describe('ahenk tables', () => {
  it('lists the tables, none synced until told, and why a table cannot sync', async () => {
    const db = plainDatabase(tempDir(), 'plain');
    const init = await cli(['init', '--db', db]);
    expect(init.code).toBe(0);
    expect(init.stdout).toMatch(/Synced tables: none yet\nNot synced: +counts, notes, strict_notes, tagged \(ahenk tables says which can/);
    const listed = await cli(['tables', '--db', db, '--json']);
    expect(listed.code).toBe(0);
    const tables = JSON.parse(listed.stdout) as { name: string; synced: boolean; rows: number; canSync: boolean; refusal: string | null }[];
    expect(tables.map((t) => t.name)).toEqual(['counts', 'notes', 'strict_notes', 'tagged']);
    expect(tables.every((t) => !t.synced)).toBe(true);
    expect(tables.find((t) => t.name === 'notes')).toMatchObject({ rows: 2, canSync: true, refusal: null });
    expect(tables.find((t) => t.name === 'counts')?.refusal).toMatch(/primary key but has type INTEGER; it must be text/);
    expect(tables.find((t) => t.name === 'strict_notes')?.refusal).toMatch(/"strict_notes"."body" is NOT NULL without a default/);
    expect(tables.find((t) => t.name === 'tagged')?.refusal).toMatch(/unique index or constraint/);
    const text = await cli(['tables', '--db', db]);
    expect(text.stdout).toMatch(/notes\s+2\s+no \(ahenk tables add notes\)/);
  });

  it('tables add makes an existing table sync, logs its rows, and they reach another device', async () => {
    const dir = tempDir();
    const db = plainDatabase(dir, 'laptop');
    expect((await cli(['init', '--db', db])).code).toBe(0);
    const added = await cli(['tables', 'add', 'notes', '--db', db]);
    expect(added.code).toBe(0);
    expect(added.stdout).toMatch(/notes is synced now: 2 existing rows were logged/);
    expect(JSON.parse((await cli(['tables', 'add', 'notes', '--db', db, '--json'])).stdout)).toMatchObject({ alreadySynced: true });
    const listed = JSON.parse((await cli(['tables', '--db', db, '--json'])).stdout) as { name: string; synced: boolean }[];
    expect(listed.find((t) => t.name === 'notes')?.synced).toBe(true);
    expect(JSON.parse((await cli(['init', '--db', db, '--json'])).stdout).tables).toContainEqual({ name: 'notes', synced: true });

    // A write after adding is captured too (from any connection: the triggers are in the file).
    const shell = openConnection(db);
    shell.exec(`UPDATE notes SET stars = 5 WHERE id = 'n2'`);
    shell.close();
    const laptop = initializeDatabase(db);
    const entries = getOplogEntriesSince(laptop).entries.filter((e) => e.table === 'notes');
    expect(entries.map((e) => e.pk).sort()).toEqual(['n1', 'n2']);
    // The phone has the same table, made sync the same way, and merges what the laptop logged.
    const phonePath = plainDatabase(dir, 'phone');
    const seed = openConnection(phonePath);
    seed.exec('DELETE FROM notes');
    seed.close();
    expect((await cli(['init', '--db', phonePath])).code).toBe(0);
    expect((await cli(['tables', 'add', 'notes', '--db', phonePath])).stdout).toMatch(/0 existing rows were logged/);
    const phone = initializeDatabase(phonePath);
    merge(phone, getOplogEntriesSince(laptop).entries);
    expect(phone.$connection.prepare('SELECT id, body, stars FROM notes ORDER BY id').all()).toEqual([
      { id: 'n1', body: 'first', stars: 3n },
      { id: 'n2', body: 'second', stars: 5n },
    ]);
    laptop.$connection.close();
    phone.$connection.close();
  });

  it('tables add refuses a table that breaks a rule, or is not there, and changes nothing', async () => {
    const db = plainDatabase(tempDir(), 'refuse');
    expect((await cli(['init', '--db', db])).code).toBe(0);
    for (const [name, why] of [
      ['counts', /cannot sync column "counts"."n" is the primary key but has type INTEGER/],
      ['strict_notes', /NOT NULL without a default/],
      ['missing', /table "missing" does not exist/],
      ['ahenk_oplog', /internal table/],
    ] as const) {
      const result = await cli(['tables', 'add', name, '--db', db]);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(why);
    }
    const listed = JSON.parse((await cli(['tables', '--db', db, '--json'])).stdout) as { synced: boolean }[];
    expect(listed.every((t) => !t.synced)).toBe(true);
  });
});
