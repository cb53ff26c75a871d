import { ConnectionSlot, connectionOf, drizzleOverPort, type DatabaseHandle, type PortDatabase } from '../sqlite/index.ts';

// The caller's Drizzle instance may carry the app's schema; auth queries need none, and one
// schema-less instance per connection is enough.
const authSlot = new ConnectionSlot<PortDatabase>('auth drizzle database');

export function authDb(handle: DatabaseHandle): PortDatabase {
  const raw = connectionOf(handle);
  return raw.slot(authSlot, () => drizzleOverPort(raw));
}

/** The column a UNIQUE constraint failure names ('ahenk_users.email'), however deep Drizzle wrapped it. */
export function uniqueViolation(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const match = /UNIQUE constraint failed: ([\w.]+)/.exec(e.message);
    if (match) return match[1];
  }
  return undefined;
}
