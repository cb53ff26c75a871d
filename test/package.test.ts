/**
 * The published package works on plain Node: `npm pack` (its prepack builds dist/) gives a tarball
 * of compiled JavaScript with declarations and no sources; extracted as node_modules/ahenk, an app
 * run by `node` with no loader imports it and syncs two databases, the `ahenk` bin runs without
 * tsx, drizzle-kit loads an app schema built on `ahenk/schema`, and a strict TypeScript consumer
 * type-checks against its declarations.
 *
 * The package is extracted inside the repo so that Node and tsc resolve its dependencies from the
 * repo's node_modules, as they would from an app's after `npm install ahenk`.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openConnection } from '../src/sqlite/index.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TSC = join(ROOT, 'node_modules', '.bin', 'tsc');
const DRIZZLE_KIT = join(ROOT, 'node_modules', 'drizzle-kit', 'bin.cjs');
/** npm pack builds dist/ with tsc (a few seconds, more on 2 busy cores); the rest is quick. */
const TIMEOUT_MS = 120_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The environment of a user's shell: no loader from NODE_OPTIONS (tsx), no database from this one.
 * Only the hook that gives this Node its own better-sqlite3 build stays (scripts/test-on.mjs): it
 * stands for that Node's npm install, not for a loader.
 */
function plainEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  const runtimeHook = env.NODE_OPTIONS?.split(/\s+/).filter((option) => option.endsWith('scripts/node-runtime-register.mjs'));
  if (runtimeHook !== undefined && runtimeHook.length > 0) env.NODE_OPTIONS = runtimeHook.join(' ');
  else delete env.NODE_OPTIONS;
  delete env.AHENK_DB;
  delete env.AHENK_PASSWORD;
  return env;
}

function run(command: string, args: string[], cwd: string): Run {
  const result = spawnSync(command, args, { cwd, env: plainEnv(), encoding: 'utf8', timeout: TIMEOUT_MS });
  if (result.error) throw result.error;
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function expectSuccess(result: Run): void {
  expect(result.code, `exit code; stderr:\n${result.stderr}\nstdout:\n${result.stdout}`).toBe(0);
}

const APP = `
import { defineSyncedTable, getOplogEntriesSince, initializeDatabase, merge } from 'ahenk';
import { text } from 'drizzle-orm/sqlite-core';
import { join } from 'node:path';

const notes = defineSyncedTable('notes', { id: text('id').primaryKey(), body: text('body').notNull().default('') });

function open(name) {
  const path = join(process.argv[2], name);
  // The app's migration, done by hand: Ahenk captures tables that exist.
  const bare = initializeDatabase(path);
  bare.$connection.exec("CREATE TABLE notes (id TEXT PRIMARY KEY NOT NULL, body TEXT NOT NULL DEFAULT '')");
  bare.$connection.close();
  return initializeDatabase(path, { schema: { notes } });
}

const laptop = open('laptop.db');
const phone = open('phone.db');
const insert = laptop.$connection.prepare('INSERT INTO notes (id, body) VALUES (?, ?)');
insert.run('a', 'written on the laptop');
insert.run('b', 'also on the laptop');
const result = merge(phone, getOplogEntriesSince(laptop).entries);
const rows = (db) => db.$connection.prepare('SELECT id, body FROM notes ORDER BY id').all();
console.log(JSON.stringify({ laptop: rows(laptop), phone: rows(phone), applied: result.applied, withResolvers: typeof Promise.withResolvers }));
laptop.$connection.close();
phone.$connection.close();
`;

const APP_SCHEMA = `
import { integer, text } from 'drizzle-orm/sqlite-core';
import { defineSyncedTable } from 'ahenk/schema';

export const todos = defineSyncedTable('todos', {
  id: text('id').primaryKey(),
  title: text('title').notNull().default(''),
  done: integer('done', { mode: 'boolean' }).notNull().default(false),
});
`;

const CONSUMER = `
import { getOplogEntriesSince, initializeDatabase, merge, type MergeResult, type OplogEntry } from 'ahenk';
import { defineSyncedTable } from 'ahenk/schema';
import { createMemoryChannelPair, runSyncSession, PROTOCOL_MAJOR } from 'ahenk/transport';
import { text } from 'drizzle-orm/sqlite-core';

const notes = defineSyncedTable('notes', { id: text('id').primaryKey(), body: text('body').notNull().default('') });
const db = initializeDatabase('consumer.db', { schema: { notes } });
const [channel] = createMemoryChannelPair();
const session: Promise<unknown> = runSyncSession(db, channel, { localDeviceId: 'a', expectedRemoteDeviceId: 'b' });
const major: number = PROTOCOL_MAJOR;
const rows: { id: string; body: string }[] = db.select().from(notes).all();
const { entries, cursor } = getOplogEntriesSince(db, undefined, { limit: 10 });
const first: OplogEntry | undefined = entries[0];
const result: MergeResult = merge(db, entries);
// Unresolved declarations would make these any and the expected errors would not happen.
// @ts-expect-error the cursor is a string
const wrongCursor: number = cursor;
// @ts-expect-error body is a string column
const wrongBody: number = rows[0]!.body;
export { first, major, result, session, wrongBody, wrongCursor };
`;

const CONSUMER_TSCONFIG = {
  compilerOptions: {
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    target: 'ES2022',
    strict: true,
    noEmit: true,
    types: ['node'],
    // drizzle-orm 0.45's own declarations do not check under TypeScript 6 (its gel, mysql and
    // singlestore parts); an app has this on, and the expected errors above catch missing types.
    skipLibCheck: true,
  },
  files: ['consumer.ts'],
};

describe('the packed package on plain Node', () => {
  let packDir = '';
  let appDir = '';
  let packageDir = '';
  let files: string[] = [];

  beforeAll(() => {
    packDir = mkdtempSync(join(tmpdir(), 'ahenk-pack-'));
    appDir = join(ROOT, `.pack-test-${Math.random().toString(36).slice(2, 10)}`);
    packageDir = join(appDir, 'node_modules', 'ahenk');
    const packed = run('npm', ['pack', '--json', '--pack-destination', packDir], ROOT);
    expectSuccess(packed);
    const [report] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
    files = report!.files.map((f) => f.path);
    mkdirSync(packageDir, { recursive: true });
    expectSuccess(run('tar', ['-xzf', join(packDir, report!.filename), '-C', packageDir, '--strip-components=1'], ROOT));
    writeFileSync(join(appDir, 'package.json'), JSON.stringify({ private: true, type: 'module' }));
  }, TIMEOUT_MS);

  afterAll(() => {
    if (appDir) rmSync(appDir, { recursive: true, force: true });
    if (packDir) rmSync(packDir, { recursive: true, force: true });
  });

  it('packs compiled JavaScript, declarations, migrations and the bin, and no sources', () => {
    for (const path of ['dist/index.js', 'dist/index.d.ts', 'dist/schema/index.js', 'dist/schema/index.d.ts', 'dist/cli/main.js', 'bin/ahenk.js', 'migrations/meta/_journal.json', 'README.md']) {
      expect(files).toContain(path);
    }
    expect(files.filter((f) => /^migrations\/[^/]+\.sql$/.test(f)).length).toBeGreaterThan(0);
    for (const folder of ['src/', 'test/', 'bench/', 'examples/', '.probe/']) expect(files.filter((f) => f.startsWith(folder))).toEqual([]);
    expect(files.filter((f) => /\.db(-wal|-shm)?$/.test(f) || (f.endsWith('.ts') && !f.endsWith('.d.ts')))).toEqual([]);
    // Every migration of the checkout ships, or an installed Ahenk would be a schema version behind.
    const shipped = readdirSync(join(packageDir, 'migrations')).filter((f) => f.endsWith('.sql'));
    expect(shipped).toEqual(readdirSync(join(ROOT, 'migrations')).filter((f) => f.endsWith('.sql')));

    const manifest = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(manifest.dependencies).not.toHaveProperty('tsx');
  });

  it('loads the libp2p polyfill before libp2p in the compiled node adapter', () => {
    const folder = join(packageDir, 'dist', 'sync', 'node');
    const adapters = readdirSync(folder).filter((f) => f.endsWith('.js'));
    let checked = 0;
    for (const file of adapters) {
      const imports = [...readFileSync(join(folder, file), 'utf8').matchAll(/^import (?:[^'"]+ from )?['"]([^'"]+)['"];$/gm)].map((m) => m[1]!);
      const firstLibp2p = imports.findIndex((spec) => /^(libp2p|@libp2p\/|@chainsafe\/)/.test(spec));
      if (firstLibp2p === -1) continue;
      checked++;
      expect(imports.indexOf('./polyfill.js'), file).toBeGreaterThanOrEqual(0);
      expect(imports.indexOf('./polyfill.js'), file).toBeLessThan(firstLibp2p);
    }
    expect(checked).toBeGreaterThanOrEqual(3);
  });

  it('an app run by plain node imports it and two databases converge', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ahenk-pack-data-'));
    try {
      writeFileSync(join(appDir, 'app.mjs'), APP);
      const result = run(process.execPath, ['app.mjs', dataDir], appDir);
      expectSuccess(result);
      const output = JSON.parse(result.stdout) as { laptop: unknown[]; phone: unknown[]; applied: number; withResolvers: string };
      const inserted = [
        { id: 'a', body: 'written on the laptop' },
        { id: 'b', body: 'also on the laptop' },
      ];
      expect(output.laptop).toEqual(inserted);
      expect(output.phone).toEqual(inserted);
      expect(output.applied).toBeGreaterThanOrEqual(2);
      // Node 20 has no Promise.withResolvers: the package's polyfill put it there.
      expect(output.withResolvers).toBe('function');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('the bin runs from the installed package with plain node', () => {
    const bin = join(packageDir, 'bin', 'ahenk.js');
    const version = run(process.execPath, [bin, '--version'], appDir);
    expectSuccess(version);
    expect(version.stdout.trim()).toBe((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);

    const dataDir = mkdtempSync(join(tmpdir(), 'ahenk-pack-cli-'));
    try {
      const db = join(dataDir, 'device.db');
      const init = run(process.execPath, [bin, 'init', '--db', db, '--json'], appDir);
      expectSuccess(init);
      const { deviceId } = JSON.parse(init.stdout) as { deviceId: string };
      expect(deviceId).toMatch(/^12D3KooW/);

      const status = run(process.execPath, [bin, 'status', '--db', db, '--json'], appDir);
      expectSuccess(status);
      const report = JSON.parse(status.stdout) as { deviceId: string; schemaVersion: number; knownSchemaVersion: number };
      expect(report.deviceId).toBe(deviceId);
      // The shipped migrations were found from dist/ and applied.
      expect(report.schemaVersion).toBeGreaterThanOrEqual(1);
      expect(report.schemaVersion).toBe(report.knownSchemaVersion);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('drizzle-kit generates migrations from an app schema that imports ahenk/schema from the package', () => {
    // drizzle-kit loads schema files through CommonJS (docs/migrations.md): ahenk/schema must load there too.
    writeFileSync(join(appDir, 'schema.ts'), APP_SCHEMA);
    writeFileSync(join(appDir, 'drizzle.config.json'), JSON.stringify({ dialect: 'sqlite', schema: './schema.ts', out: './drizzle' }));
    const result = run(process.execPath, [DRIZZLE_KIT, 'generate', '--config', 'drizzle.config.json'], appDir);
    expectSuccess(result);
    // drizzle-kit exits 0 even when it cannot load the schema: check what it wrote.
    const written = readdirSync(join(appDir, 'drizzle')).filter((f) => f.endsWith('.sql'));
    expect(written, result.stdout + result.stderr).toHaveLength(1);
    expect(readFileSync(join(appDir, 'drizzle', written[0]!), 'utf8')).toMatch(/CREATE TABLE `todos`/);
  });

  it("README's Use section, followed step by step in a fresh folder: drizzle-kit with its drizzle.config.ts, strict NodeNext TypeScript, then plain node", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const use = readme.slice(readme.indexOf('\n## Use\n'), readme.indexOf('\n### ', readme.indexOf('\n## Use\n')));
    // Every install step is named: the package, its peer, and drizzle-kit as a dev dependency.
    expect(use).toContain('npm install ahenk drizzle-orm');
    expect(use).toMatch(/npm install --save-dev drizzle-kit/);
    const blocks = [...use.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks).toHaveLength(3);
    const [schemaTs, configTs, appTs] = blocks as [string, string, string];
    expect(configTs).toContain("out: './drizzle'");
    expect(appTs).toContain("migrationsFolder: './drizzle'");
    const dir = join(appDir, 'readme-use');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ private: true, type: 'module' }));
    writeFileSync(join(dir, 'schema.ts'), schemaTs);
    writeFileSync(join(dir, 'drizzle.config.ts'), configTs);
    writeFileSync(join(dir, 'app.ts'), appTs);
    const generated = run(process.execPath, [DRIZZLE_KIT, 'generate'], dir);
    expectSuccess(generated);
    expect(readdirSync(join(dir, 'drizzle')).filter((f) => f.endsWith('.sql')), generated.stdout + generated.stderr).toHaveLength(1);
    const { noEmit: _noEmit, ...options } = CONSUMER_TSCONFIG.compilerOptions;
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { ...options, outDir: '.' }, files: ['app.ts', 'schema.ts'] }));
    expectSuccess(run(TSC, ['-p', join(dir, 'tsconfig.json')], dir));
    const ran = run(process.execPath, ['app.js'], dir);
    expectSuccess(ran);
    const db = openConnection(join(dir, 'laptop.db'), { readOnly: true });
    try {
      expect(db.prepare('SELECT title FROM todos').all()).toEqual([{ title: 'Buy milk' }]);
    } finally {
      db.close();
    }
  });

  it('a strict TypeScript consumer type-checks against the declarations', () => {
    writeFileSync(join(appDir, 'consumer.ts'), CONSUMER);
    writeFileSync(join(appDir, 'tsconfig.json'), JSON.stringify(CONSUMER_TSCONFIG));
    const result = run(TSC, ['-p', join(appDir, 'tsconfig.json')], appDir);
    expectSuccess(result);
  });

  it('its own declarations check with skipLibCheck off and need no driver types (@types/better-sqlite3 is a devDependency)', () => {
    writeFileSync(join(appDir, 'consumer.ts'), CONSUMER);
    const strict = { ...CONSUMER_TSCONFIG, compilerOptions: { ...CONSUMER_TSCONFIG.compilerOptions, skipLibCheck: false } };
    writeFileSync(join(appDir, 'tsconfig.strict.json'), JSON.stringify(strict));
    const result = run(TSC, ['-p', join(appDir, 'tsconfig.strict.json'), '--listFiles'], appDir);
    const lines = result.stdout.split('\n');
    // drizzle-orm 0.45's own declarations fail under TypeScript 6 (see above): only errors in
    // Ahenk's declarations or in the consumer count.
    const ours = lines.filter((line) => /error TS\d+/.test(line) && (line.includes('node_modules/ahenk/') || line.startsWith('consumer.ts')));
    expect(ours, result.stdout).toEqual([]);
    const program = lines.filter((line) => line.startsWith('/'));
    expect(program.some((file) => file.includes('/node_modules/ahenk/dist/index.d.ts'))).toBe(true);
    expect(program.filter((file) => file.includes('better-sqlite3'))).toEqual([]);
  });
}, TIMEOUT_MS);
