// ahenk/browser/worker: what the app's dedicated worker module imports.
export { openOpfsDatabase, serveDatabase, type ServeOptions } from './worker.ts';
export { migrationsFromBundle, type BundledMigrations } from './migrations.ts';
