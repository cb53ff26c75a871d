/**
 * Prepared statements cached per connection: merge and export build a handful of SQL texts per
 * table and run them for every row, so preparing them again on each call would dominate small
 * batches. SQLite re-prepares a cached statement by itself after a schema change.
 */
import type { Database, Statement } from 'better-sqlite3';

const caches = new WeakMap<Database, Map<string, Statement>>();

export function cachedStatement(raw: Database, sql: string): Statement {
  let cache = caches.get(raw);
  if (!cache) caches.set(raw, (cache = new Map()));
  let statement = cache.get(sql);
  if (!statement) cache.set(sql, (statement = raw.prepare(sql)));
  return statement;
}
