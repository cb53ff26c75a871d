// `npm run demo:web`: builds the web example with Vite and serves it on 127.0.0.1, and starts a
// Node device (an Ahenk database with the same schema and a sync node) beside it. Ctrl-C ends both.
// The page does not sync yet: libp2p in the browser is still being built (src/sync.ts is where it
// will be connected), and the output says so.
//
// AHENK_DEMO_PORT (default 5173; 0 for any free port) and AHENK_DEMO_DIR (where the Node device
// keeps its database; default examples/web/.device) change where things go.
import { mkdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, preview } from 'vite';
import { browserBuild } from '../../scripts/build-browser.mjs';
import { createSyncNode, initializeDatabase } from '../../src/index.ts';
import { schema } from './src/schema.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const configFile = join(here, 'vite.config.ts');
const port = Number(process.env.AHENK_DEMO_PORT ?? 5173);
const dataDir = process.env.AHENK_DEMO_DIR ?? join(here, '.device');

console.log('Building the database worker (scripts/build-browser.mjs) and the page (Vite)...');
await browserBuild({ entryPoints: { 'worker.bundle': join(root, 'src', 'browser', 'worker-entry.ts') }, outdir: join(root, 'dist', 'browser') });
await build({ configFile, logLevel: 'warn' });

mkdirSync(dataDir, { recursive: true });
const dbPath = join(dataDir, 'device.db');
const db = initializeDatabase(dbPath, { schema, migrationsFolder: join(here, 'drizzle') });
const node = await createSyncNode(db, { listenAddresses: ['/ip4/127.0.0.1/tcp/0'] });
const server = await preview({ configFile, logLevel: 'warn', preview: { host: '127.0.0.1', port, strictPort: port !== 0, open: false } });

// Once the sync node listens on WebSockets, the page gets that address to dial (src/sync.ts).
const wsAddress = node.getMultiaddrs().find((address) => address.includes('/ws/'));
const pageUrl = new URL(server.resolvedUrls?.local[0] ?? `http://127.0.0.1:${port}/`);
if (wsAddress !== undefined) pageUrl.searchParams.set('device', wsAddress);

console.log(`
Ahenk web demo
  page:        ${pageUrl.href}
  Node device: ${node.peerId}
               listening on ${node.getMultiaddrs().join(', ')}
               database ${relative(root, dbPath).startsWith('..') ? dbPath : relative(root, dbPath)}

The page does not sync yet: its todos live in this browser's storage (SQLite on OPFS) and stay
there; syncing with the Node device comes with libp2p in the browser, and connectSync in
examples/web/src/sync.ts is where it will be connected.
Try: open the page, add a todo, reload (it is still there), open a second tab (both share one
database). Ctrl-C stops the page server and the Node device.
`);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await server.close();
  await node.stop();
  db.$connection.close();
  console.log('stopped');
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void stop().then(() => process.exit(0), (error: unknown) => (console.error(error), process.exit(1))));
