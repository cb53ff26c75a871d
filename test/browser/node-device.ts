// A Node device in a process of its own, for tests that kill it: opens the database at argv[2]
// (the fixture's schema and migrations at argv[3]), listens on WebSockets on 127.0.0.1 and prints
// its /ws address. It runs until it is killed (the test does, at its end).
import { initializeDatabase } from '../../src/index.ts';
import { createSyncNode } from '../../src/sync/node/index.ts';
import { schema } from './fixture/schema.ts';

const [path, migrationsFolder] = process.argv.slice(2);
if (path === undefined || migrationsFolder === undefined) throw new TypeError('usage: node-device.ts <db> <migrations>');
const db = initializeDatabase(path, { schema, migrationsFolder });
const node = await createSyncNode(db, { listenAddresses: ['/ip4/127.0.0.1/tcp/0/ws'], keepPort: false });
process.stdout.write(`${node.getMultiaddrs().find((a) => a.includes('/ws/'))}\n`);
