/**
 * The layering of src/ (docs/architecture.md draws it). Each folder may import only the folders
 * below it: cli -> sync, auth -> database -> merge -> capture -> oplog -> schema -> sqlite, clock.
 * `npm run lint:deps` checks it; CI runs it.
 */
const ROOMS = ['sqlite', 'clock', 'schema', 'oplog', 'capture', 'merge', 'database', 'auth', 'sync', 'cli', 'browser'];
// What each room may import besides itself and src/errors.ts.
const ALLOWED = {
  sqlite: [],
  clock: [],
  schema: ['sqlite'],
  oplog: ['sqlite', 'clock'],
  capture: ['oplog', 'schema', 'sqlite', 'clock'],
  merge: ['capture', 'oplog', 'schema', 'sqlite', 'clock'],
  database: ['merge', 'capture', 'oplog', 'schema', 'sqlite', 'clock'],
  auth: ['database', 'oplog', 'schema', 'sqlite', 'clock'],
  sync: ['auth', 'database', 'merge', 'capture', 'oplog', 'schema', 'sqlite', 'clock'],
  cli: ['sync', 'auth', 'database', 'merge', 'capture', 'oplog', 'schema', 'sqlite', 'clock'],
  browser: ['sync', 'auth', 'database', 'merge', 'capture', 'oplog', 'schema', 'sqlite', 'clock'],
};

const layering = ROOMS.map((room) => {
  const forbidden = ROOMS.filter((other) => other !== room && !ALLOWED[room].includes(other));
  return {
    name: `layering-${room}`,
    comment: `src/${room} may import only ${ALLOWED[room].length > 0 ? ALLOWED[room].join(', ') : 'itself'} (and src/errors.ts)`,
    severity: 'error',
    from: { path: `^src/${room}/` },
    to: { path: [`^src/(${forbidden.join('|')})/`, '^src/(index|transport)\\.ts$'] },
  };
});

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'no module imports one that imports it back',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    ...layering,
    {
      name: 'errors-is-a-leaf',
      comment: 'src/errors.ts is imported by every room, so it imports none',
      severity: 'error',
      from: { path: '^src/errors\\.ts$' },
      to: { path: '^src/' },
    },
    {
      name: 'driver-only-in-its-adapter',
      comment: 'better-sqlite3 (and drizzle\'s driver for it) is named only by its adapter folder',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/sqlite/better-sqlite3/' },
      to: { path: ['node_modules/better-sqlite3/', 'node_modules/drizzle-orm/better-sqlite3/'] },
    },
    {
      name: 'node-sqlite-only-in-its-adapter',
      comment: 'node:sqlite is named only by its adapter folder',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/sqlite/node-sqlite/' },
      // Older resolvers do not know node:sqlite as a core module, so the name alone decides.
      to: { path: '^(node:)?sqlite$' },
    },
    {
      name: 'sqlite-wasm-only-in-its-adapter',
      comment: '@sqlite.org/sqlite-wasm is named only by its adapter folder (the browser entry opens OPFS through it)',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/sqlite/sqlite-wasm/' },
      to: { path: 'node_modules/@sqlite\\.org/sqlite-wasm/' },
    },
    {
      name: 'browser-knows-no-node',
      comment: 'src/browser, the web sync node (src/sync/web) and pairing (src/auth/pairing, src/sync/pairing) run in a page and a worker: no Node built-in module',
      severity: 'error',
      from: { path: ['^src/browser/', '^src/sync/web/', '^src/auth/pairing/', '^src/sync/pairing/'] },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'session-over-a-store',
      comment: 'the sync session works over the SyncStore interface: no SQLite, no migrator, no merge, no node; only the entry unit and the cursor format of the log',
      severity: 'error',
      from: { path: '^src/sync/session/' },
      to: { path: ['^src/(sqlite|database|merge|capture|auth|schema)/', '^src/sync/(node|store|pairing)/', '^src/oplog/(?!entry\\.ts$|cursor\\.ts$)'] },
    },
    {
      name: 'core-knows-no-libp2p',
      comment: 'clock, sqlite, schema, oplog, capture and merge, the wire protocol and the session know nothing of libp2p',
      severity: 'error',
      from: { path: '^src/(clock|sqlite|schema|oplog|capture|merge|sync/protocol|sync/session)/' },
      to: { path: 'node_modules/(libp2p|@libp2p|@chainsafe|@multiformats)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
