// Two copies of the schema module in one realm (an app's `ahenk/schema` and the copy inside the
// browser worker bundle) know the same synced tables.
import { text } from 'drizzle-orm/sqlite-core';
import { describe, expect, it } from 'vitest';
import { defineSyncedTable, getSyncedTableMeta } from '../../src/schema/synced-table.ts';

describe('synced tables across copies of the schema module', () => {
  it('a table defined with one copy is a synced table to another copy', async () => {
    // The query string makes the module loader evaluate the file a second time: a second copy.
    const second = new URL('../../src/schema/synced-table.ts?second-copy', import.meta.url).href;
    const copy = (await import(/* @vite-ignore */ second)) as typeof import('../../src/schema/synced-table.ts');
    expect(copy.defineSyncedTable).not.toBe(defineSyncedTable);
    const notes = defineSyncedTable('notes', { id: text('id').primaryKey(), body: text('body') });
    expect(copy.isSyncedTable(notes)).toBe(true);
    expect(copy.getSyncedTableMeta(notes)).toEqual(getSyncedTableMeta(notes));
  });
});
