#!/usr/bin/env node
// Runs the test suite under another Node with one SQLite adapter:
//   node scripts/test-on.mjs <node major> <better-sqlite3|node:sqlite|sqlite-wasm> [vitest arguments]
// `npm run test:node-sqlite` is Node 22 with node:sqlite, `npm run test:node24` Node 24 with
// better-sqlite3, `npm run test:sqlite-wasm` Node 22 with sqlite-wasm (the browser's SQLite; in Node
// a path opens as an in-memory image of the file, so it runs the suites of one process only). Child processes the tests start (the CLI, demo devices, bench peers) run under the
// same Node with the same adapter.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { betterSqlite3For, nodeBinary, root, runtimeEnv } from './node-runtime.mjs';

const [majorText, adapter, ...rest] = process.argv.slice(2);
const major = Number(majorText);
if (!Number.isInteger(major) || major < 20 || !['better-sqlite3', 'node:sqlite', 'sqlite-wasm'].includes(adapter)) {
  console.error('usage: node scripts/test-on.mjs <node major> <better-sqlite3|node:sqlite|sqlite-wasm> [vitest arguments]');
  process.exit(2);
}
const node = nodeBinary(major);
// npm ci built better-sqlite3 for the Node that ran it: another Node needs its own build.
const entry = adapter === 'better-sqlite3' && node !== process.execPath ? betterSqlite3For(node) : undefined;
const env = { ...runtimeEnv(node, entry), AHENK_SQLITE: adapter };
const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
console.log(`test-on: the suite on ${adapter}, Node ${version}`);
const result = spawnSync(node, [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...rest], { cwd: root, env, stdio: 'inherit' });
process.exit(result.status ?? 1);
