/** `ahenk tables [add <name>]`: which tables of the database sync, and making an existing one sync. */
import { isSyncedTable, listTables, syncExistingTable } from '../../capture/existing-table.ts';
import { SchemaError } from '../../errors.ts';
import { DB_OPTION, flag, JSON_OPTION, withDatabase } from '../context.ts';
import { CommandFailedError } from '../errors.ts';
import { writeJson, writeLine, writeTable } from '../io.ts';
import type { CommandSpec } from '../spec.ts';

const addCommand: CommandSpec = {
  name: 'add',
  summary: 'make an existing table sync (its rows are logged and sync too)',
  description:
    'Makes a table that already exists in the database a synced table, with the rules defineSyncedTable ' +
    'applies: a single text primary key, no foreign keys, no unique constraint but the key, a default for ' +
    'every NOT NULL column, at most 62 columns. Every column merges last writer wins. Its existing rows ' +
    'are logged, so they reach every device. A table on the other devices must have the same name and ' +
    'columns (create it there too, then run this there as well).',
  args: [{ name: '<name>', description: 'the table, as SQLite names it' }],
  options: [DB_OPTION, JSON_OPTION],
  run: (context) =>
    withDatabase(context, async (db) => {
      const name = context.args[0] ?? '';
      if (isSyncedTable(db.$connection, name)) {
        if (flag(context, 'json')) return writeJson(context.io.stdout, { table: name, synced: true, alreadySynced: true, backfilled: 0 });
        return writeLine(context.io.stdout, `${name} is synced already.`);
      }
      let backfilled: number;
      try {
        ({ backfilled } = syncExistingTable(db.$connection, name));
      } catch (error) {
        if (error instanceof SchemaError) throw new CommandFailedError(`cannot sync ${error.message}`, undefined, { cause: error });
        throw error;
      }
      if (flag(context, 'json')) return writeJson(context.io.stdout, { table: name, synced: true, alreadySynced: false, backfilled });
      writeLine(context.io.stdout, `${name} is synced now: ${backfilled} existing ${backfilled === 1 ? 'row was' : 'rows were'} logged and will reach your other devices.`);
    }),
};

export const tablesCommand: CommandSpec = {
  name: 'tables',
  summary: 'list the tables of the database and whether each syncs (tables add <name> makes one sync)',
  options: [DB_OPTION, JSON_OPTION],
  commands: [addCommand],
  run: (context) =>
    withDatabase(context, async (db) => {
      const tables = listTables(db.$connection);
      const { stdout } = context.io;
      if (flag(context, 'json')) return writeJson(stdout, tables.map((t) => ({ name: t.name, synced: t.synced, rows: t.rows, canSync: !t.synced && t.refusal === undefined, refusal: t.refusal ?? null })));
      if (tables.length === 0) return writeLine(stdout, 'No tables yet besides Ahenk\'s own: create them (your migrations, or the sqlite3 shell), then ahenk tables add <name>.');
      writeTable(
        stdout,
        ['TABLE', 'ROWS', 'SYNCED'],
        tables.map((t) => [t.name, String(t.rows), t.synced ? 'yes' : t.refusal === undefined ? 'no (ahenk tables add ' + t.name + ')' : `no: ${t.refusal}`]),
      );
    }),
};
