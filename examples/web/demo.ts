// `npm run demo:web`: builds the web example with Vite and serves it on 127.0.0.1, and starts a
// Node device (an Ahenk database with the same schema and a sync node) beside it. Ctrl-C ends both.
// The Node device listens on WebSockets and offers pairing: it prints a pairing code (and, at a
// terminal, a short code), and the page's address carries the device's /ws address (?device=) and
// the long code (?pair=), so the page joins with one click and then syncs both ways.
//
// AHENK_DEMO_PORT (default 5173; 0 for any free port) and AHENK_DEMO_DIR (where the Node device
// keeps its database; default examples/web/.device) change where things go.
import { mkdirSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, preview } from 'vite';
import { browserBuild } from '../../scripts/build-browser.mjs';
import { AuthorizerWorkflow, createSyncNode, initializeDatabase, registerUser } from '../../src/index.ts';
import { PAIRING_LIMITS } from '../../src/auth/pairing/challenge.ts';
import { ahenkUsers } from '../../src/schema/system.ts';
import { ShortCodeOffer } from '../../src/sync/pairing/short-code.ts';
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
const node = await createSyncNode(db, { listenAddresses: ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws'], keepPort: false });
// The demo's account, made on the first run: the page joins it. Its password is never needed here.
const user = db.select().from(ahenkUsers).get() ?? (await registerUser(db, 'demo', 'demo@example.invalid', crypto.randomUUID()));
const server = await preview({ configFile, logLevel: 'warn', preview: { host: '127.0.0.1', port, strictPort: port !== 0, open: false } });

// The page dials the device's WebSocket address (src/sync.ts) and joins with the code in ?pair=.
const wsAddress = node.getMultiaddrs().find((address) => address.includes('/ws/'))!;
const siteUrl = server.resolvedUrls?.local[0] ?? `http://127.0.0.1:${port}/`;
let stopping = false;
let workflow: AuthorizerWorkflow | undefined;
let shortOffer: ShortCodeOffer | undefined;
const terminal = process.stdin.isTTY === true ? createInterface({ input: process.stdin, output: process.stdout }) : undefined;

/** Shows a pairing code (valid ten minutes) and, once it is used or expires, the next one. */
async function offerPairing(first: boolean): Promise<void> {
  await shortOffer?.close();
  await workflow?.close();
  if (stopping) return;
  const current = (workflow = new AuthorizerWorkflow(db, node, { userId: user.id, deviceType: 'demo device', ttlMs: PAIRING_LIMITS.maxTtlMs }));
  await current.createChallenge();
  const code = current.getQrCodeString();
  const pageUrl = new URL(siteUrl);
  pageUrl.searchParams.set('device', wsAddress);
  pageUrl.searchParams.set('pair', code);
  // The short code needs a person here to compare the confirmation code both screens show.
  shortOffer = terminal && new ShortCodeOffer(node, {
    pairingCode: () => current.getQrCodeString(),
    compare: async (d) => /^y/i.test(await terminal.question(`A ${d.deviceType} typed the short code. Does it show ${d.confirmation}? [y/N] `)),
  });
  await shortOffer?.start();
  console.log(first ? `
Ahenk web demo
  page:        ${pageUrl.href}
  Node device: ${node.peerId}
               listening on ${node.getMultiaddrs().join(', ')}
               database ${relative(root, dbPath).startsWith('..') ? dbPath : relative(root, dbPath)}
  pairing code (account ${user.userName}; the page's address carries it, press Join):
               ${code}${shortOffer ? `
  short code:  ${shortOffer.code} (type it in the page instead; it dials ${wsAddress})` : ''}

The page keeps its todos in this browser's storage (SQLite on OPFS). Once it joined, it syncs with
this Node device both ways, live: add a todo in the page and it is in ${relative(root, dbPath).startsWith('..') ? dbPath : relative(root, dbPath)};
write one there (any SQLite connection: sqlite3 ${dbPath} "insert into todos(id, title) values ('x', 'from Node')")
and the page shows it. A reload keeps the todos and the pairing. Ctrl-C stops the page server and the Node device.
` : `Next pairing code (for another browser): ${pageUrl.href}${shortOffer ? `
  short code: ${shortOffer.code}` : ''}`);
  current.waitForResponse().then(
    (device) => {
      console.log(`Paired: ${device.deviceType} ${device.peerId} joined ${user.userName}; syncing.`);
      void offerPairing(false);
    },
    (error: Error) => {
      if (!stopping) console.log(`The pairing code ended (${error.message}).`);
      void offerPairing(false);
    },
  );
}
await offerPairing(true);

async function stop(): Promise<void> {
  stopping = true;
  terminal?.close();
  await shortOffer?.close();
  await workflow?.close();
  await server.close();
  await node.stop();
  db.$connection.close();
  console.log('stopped');
}
// `on`, not `once`: a signal can come twice (Ctrl-C reaches the whole process group, and tsx relays
// it to this process when it misses our acknowledgement), and a second one with no listener left
// would end the process in the middle of stopping. Every signal waits for the one stop.
let stopped: Promise<void> | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => void (stopped ??= stop()).then(() => process.exit(0), (error: unknown) => (console.error(error), process.exit(1))));
}
