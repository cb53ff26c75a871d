/**
 * drizzle-kit's migrations as data, for a bundle: the journal (`meta/_journal.json`) and each
 * migration's SQL imported as text, keyed `m0000`, `m0001`, ... as drizzle-kit writes them for its
 * bundled drivers (`driver: 'expo'` or 'durable-sqlite' generates that `migrations.js`).
 */
import type { MigrationMeta } from 'drizzle-orm/migrator';

export interface BundledMigrations {
  journal: { entries: readonly { idx: number; when: number; tag: string; breakpoints: boolean }[] };
  migrations: Readonly<Record<string, string>>;
}

/** The migrations drizzle's migrator applies, in journal order (what readMigrationFiles makes of a folder). */
export function migrationsFromBundle(bundle: BundledMigrations): MigrationMeta[] {
  return bundle.journal.entries.map((entry) => {
    const key = `m${entry.idx.toString().padStart(4, '0')}`;
    const query = Object.hasOwn(bundle.migrations, key) ? bundle.migrations[key] : undefined;
    if (query === undefined) throw new TypeError(`migration ${entry.tag} (${key}) is in the journal but not in the bundle`);
    // No hash: drizzle's migrator decides by the journal's timestamps, and its bundled drivers leave it empty too.
    return { sql: query.split('--> statement-breakpoint'), bps: entry.breakpoints, folderMillis: entry.when, hash: '' };
  });
}
