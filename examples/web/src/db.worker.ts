// The database worker: SQLite on OPFS with the app's schema and its drizzle-kit migrations,
// bundled by Vite (the journal as JSON, each migration's SQL as text).
import { migrationsFromBundle, serveDatabase } from 'ahenk/browser/worker';
import journal from '../drizzle/meta/_journal.json';
import m0000 from '../drizzle/0000_todos.sql?raw';
import { schema } from './schema.ts';

serveDatabase({ schema, migrations: migrationsFromBundle({ journal, migrations: { m0000 } }), file: '/todos.db' });
