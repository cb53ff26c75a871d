import type { Database } from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { clientOf, type DatabaseHandle } from '../database/handle.ts';

// The caller's Drizzle instance may carry the app's schema; auth queries need none, and one
// schema-less instance per connection is enough.
const cache = new WeakMap<Database, BetterSQLite3Database>();

export function authDb(handle: DatabaseHandle): BetterSQLite3Database {
  const raw = clientOf(handle);
  let db = cache.get(raw);
  if (db === undefined) {
    db = drizzle(raw);
    cache.set(raw, db);
  }
  return db;
}

/** The column a UNIQUE constraint failure names ('ahenk_users.email'), however deep Drizzle wrapped it. */
export function uniqueViolation(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const match = /UNIQUE constraint failed: ([\w.]+)/.exec(e.message);
    if (match) return match[1];
  }
  return undefined;
}
