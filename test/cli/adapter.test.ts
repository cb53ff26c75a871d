/**
 * Which SQLite adapter a command uses: AHENK_SQLITE of the command's own environment (io.env, the
 * shell's for the bin), better-sqlite3 when it names none; never the environment of the process
 * that happens to call run(). A name it does not know is the user's mistake.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT, run, type CliIo } from '../../src/cli/main.ts';
import { defaultAdapter, openConnection } from '../../src/sqlite/index.ts';
import { appDatabase, cli, runtimeOf, spawnCli, tempDir } from './helpers.ts';

/** Runs one command in-process with exactly `env` as its environment (cli() adds the suite's runtime). */
async function runWithEnv(argv: string[], env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const io: CliIo = { stdout: { write: () => undefined }, stderr: { write: (text: string) => (stderr += text) }, env, cwd: tempDir() };
  const code = await run(argv, io);
  return { code, stderr };
}

/** Runs `body` with AHENK_SQLITE of this process set to `value`, then puts it back. */
async function withProcessAdapter<T>(value: string, body: () => Promise<T>): Promise<T> {
  const saved = process.env.AHENK_SQLITE;
  process.env.AHENK_SQLITE = value;
  try {
    return await body();
  } finally {
    if (saved === undefined) delete process.env.AHENK_SQLITE;
    else process.env.AHENK_SQLITE = saved;
  }
}

function loadsBetterSqlite3(): boolean {
  try {
    openConnection(':memory:', { adapter: 'better-sqlite3' }).close();
    return true;
  } catch {
    return false;
  }
}

describe('the CLI picks its SQLite adapter from its own environment', () => {
  it('uses what io.env names, whatever this process has in AHENK_SQLITE', async () => {
    const db = join(tempDir(), 'app.db');
    const env = runtimeOf({ ...process.env, AHENK_SQLITE: defaultAdapter() });
    await withProcessAdapter('sqlite3', async () => {
      expect(await runWithEnv(['init', '--db', db], env)).toEqual({ code: EXIT.ok, stderr: '' });
      expect(await runWithEnv(['status', '--db', db], env)).toEqual({ code: EXIT.ok, stderr: '' });
    });
  });

  it.skipIf(!loadsBetterSqlite3())(`uses better-sqlite3 when io.env names none, not this process's AHENK_SQLITE (needs better-sqlite3 to load on Node ${process.versions.node})`, async () => {
    const db = join(tempDir(), 'app.db');
    const env = runtimeOf({ ...process.env, AHENK_SQLITE: undefined });
    expect(env.AHENK_SQLITE).toBeUndefined();
    await withProcessAdapter('sqlite3', async () => {
      expect(await runWithEnv(['init', '--db', db], env)).toEqual({ code: EXIT.ok, stderr: '' });
      expect(await runWithEnv(['status', '--db', db], env)).toEqual({ code: EXIT.ok, stderr: '' });
    });
  });

  // On a Node where only node:sqlite works, the same rule shows as a failure: the command goes to
  // better-sqlite3 even though this process's AHENK_SQLITE names an adapter that would have worked.
  it.skipIf(loadsBetterSqlite3() || defaultAdapter() !== 'node:sqlite')(`does not fall back to this process's AHENK_SQLITE=node:sqlite when io.env names none (needs a Node where better-sqlite3 cannot load, this is ${process.versions.node})`, async () => {
    const db = join(tempDir(), 'app.db');
    const env = runtimeOf({ ...process.env, AHENK_SQLITE: undefined });
    const result = await withProcessAdapter('node:sqlite', () => runWithEnv(['init', '--db', db], env));
    expect(result.code).toBe(EXIT.failure);
    expect(result.stderr).toMatch(/better.sqlite3/);
  });

  it('refuses an AHENK_SQLITE it does not know as a usage error naming both adapters, creating nothing', async () => {
    const dir = tempDir();
    const fresh = join(dir, 'fresh.db');
    const init = await cli(['init', '--db', fresh], { env: { AHENK_SQLITE: 'sqlite3' } });
    expect(init.code).toBe(EXIT.usage);
    expect(init.stderr).toMatch(/AHENK_SQLITE: unknown SQLite adapter "sqlite3" \(expected better-sqlite3, node:sqlite or sqlite-wasm\)/);
    expect(existsSync(fresh)).toBe(false);
    const existing = appDatabase(dir, 'app');
    const status = await cli(['status', '--db', existing], { env: { AHENK_SQLITE: 'node-sqlite' } });
    expect(status.code).toBe(EXIT.usage);
    expect(status.stderr).toMatch(/unknown SQLite adapter "node-sqlite" \(expected better-sqlite3, node:sqlite or sqlite-wasm\)/);
  });

  it('the bin exits with the usage code for an AHENK_SQLITE it does not know', async () => {
    const db = join(tempDir(), 'app.db');
    const bin = spawnCli(['init', '--db', db], { AHENK_SQLITE: 'sqlite3' });
    expect(await bin.exited).toBe(EXIT.usage);
    expect(bin.stderr()).toMatch(/expected better-sqlite3, node:sqlite or sqlite-wasm/);
    expect(existsSync(db)).toBe(false);
  });
});
