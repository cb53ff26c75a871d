/**
 * What Ahenk's functions accept as "the database": the Drizzle database initializeDatabase returns
 * (its `$connection`), or the port connection itself.
 */
import { SqliteConnection } from './connection.ts';

export type DatabaseHandle = { readonly $connection: SqliteConnection } | SqliteConnection;

export function connectionOf(db: DatabaseHandle): SqliteConnection {
  if (db instanceof SqliteConnection) return db;
  const connection = typeof db === 'object' && db !== null ? (db as { $connection?: unknown }).$connection : undefined;
  if (connection instanceof SqliteConnection) return connection;
  throw new TypeError('expected the database initializeDatabase returned (or its $connection)');
}
