// Migrations as data (what a browser bundle carries) apply as a migrations folder does on Node.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { describe, expect, it } from 'vitest';
import { migrationsFromBundle } from '../../src/browser/migrations.ts';
import { initializeDatabase, migrateDatabase } from '../../src/index.ts';
import { schema } from './fixture/schema.ts';

const folder = fileURLToPath(new URL('./fixture/drizzle', import.meta.url));
const journal = JSON.parse(readFileSync(join(folder, 'meta', '_journal.json'), 'utf8'));
const bundle = { journal, migrations: { m0000: readFileSync(join(folder, '0000_todos.sql'), 'utf8') } };

describe('migrations bundled as data', () => {
  it('are what drizzle reads from the folder, but for the hash', () => {
    const fromFolder = readMigrationFiles({ migrationsFolder: folder });
    expect(migrationsFromBundle(bundle)).toEqual(fromFolder.map((m) => ({ ...m, hash: '' })));
  });

  it('apply on open, capture the new table, and a second open applies nothing again', () => {
    const db = initializeDatabase(':memory:', { schema, migrations: migrationsFromBundle(bundle) });
    db.$connection.exec(`INSERT INTO todos (id, title) VALUES ('t1', 'x')`);
    expect(db.$connection.prepare('SELECT count(*) FROM ahenk_oplog WHERE pk = ?').value('t1')).toBe(1n);
    migrateDatabase(db, { schema, migrations: migrationsFromBundle(bundle) });
    expect(db.$connection.prepare('SELECT count(*) FROM __drizzle_migrations').value()).toBe(1n);
    db.$connection.close();
  });

  it('name a migration the journal lists but the bundle lacks', () => {
    expect(() => migrationsFromBundle({ journal, migrations: {} })).toThrow(/migration 0000_todos \(m0000\) is in the journal but not in the bundle/);
  });
});
