import type { Database } from 'better-sqlite3';

/** Ahenk functions accept the Drizzle database from initializeDatabase or its better-sqlite3 client. */
export type DatabaseHandle = { $client: Database } | Database;

export function clientOf(db: DatabaseHandle): Database {
  if (typeof db !== 'object' || db === null) throw new TypeError('expected a database from initializeDatabase');
  if ('$client' in db) return db.$client;
  return db;
}
