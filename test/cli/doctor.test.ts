/**
 * `ahenk doctor` (issue 10, item 12): a sound database with an account passes; missing capture
 * triggers, a device with no account, held-back changes and a stale daemon pid file are each named
 * with what to do, and a problem makes the exit code 1.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openConnection } from '../../src/sqlite/index.ts';
import { appDatabase, cli, tempDir } from './helpers.ts';

type Report = { problems: number; findings: { check: string; level: string; message: string }[] };
const doctor = async (db: string) => {
  const result = await cli(['doctor', '--db', db, '--json']);
  return { code: result.code, report: JSON.parse(result.stdout) as Report };
};
const finding = (report: Report, check: string) => report.findings.find((f) => f.check === check);

describe('ahenk doctor', () => {
  it('says a database with no account cannot sync (exit 1), and that the file and triggers are sound', async () => {
    const db = appDatabase(tempDir(), 'lonely', { id: 't1', title: 'milk' });
    const { code, report } = await doctor(db);
    expect(code).toBe(1);
    expect(report.problems).toBe(1);
    expect(finding(report, 'file')).toMatchObject({ level: 'ok' });
    expect(finding(report, 'capture')).toMatchObject({ level: 'ok' });
    expect(finding(report, 'account')).toMatchObject({ level: 'problem', message: expect.stringMatching(/no account.*ahenk init --user/) });
    const text = await cli(['doctor', '--db', db]);
    expect(text.stdout).toMatch(/PROBLEM  account: no account/);
    expect(text.stdout).toMatch(/1 problem found\./);
  });

  it('passes a device on its account, and names missing triggers, held-back changes and a stale pid file', async () => {
    const dir = tempDir();
    const db = appDatabase(dir, 'laptop');
    const init = await cli(['init', '--db', db, '--user', 'ayse', '--email', 'ayse@example.com'], { env: { AHENK_PASSWORD: 'correct horse battery staple' } });
    expect(init.code).toBe(0);
    const healthy = await doctor(db);
    expect(healthy.code).toBe(0);
    expect(finding(healthy.report, 'account')).toMatchObject({ level: 'ok', message: "on ayse's device list" });
    expect(finding(healthy.report, 'peers')).toMatchObject({ level: 'warning' });

    // A migration's table rebuild drops the triggers; a change waits for a column; a daemon died.
    const raw = openConnection(db);
    raw.exec('DROP TRIGGER "ahenk_todos_update"');
    raw.prepare(`INSERT INTO ahenk_quarantine (table_name, reason, entry, received_at, bytes) VALUES ('todos', 'unknown-column: "todos"."later" is not here yet', x'00', 0, 1)`).run();
    raw.close();
    writeFileSync(join(dir, 'laptop.db.ahenk.pid'), '999999\n');
    const { code, report } = await doctor(db);
    expect(code).toBe(0);
    expect(finding(report, 'capture')).toMatchObject({ level: 'warning', message: expect.stringMatching(/capture triggers of todos were missing.*re-installed/) });
    expect(finding(report, 'quarantine')).toMatchObject({ level: 'warning', message: expect.stringMatching(/1 unknown-column/) });
    expect(finding(report, 'daemon')).toMatchObject({ level: 'warning', message: expect.stringMatching(/pid 999999, which is not running/) });
    // Opening re-installed the triggers: a second look finds them in place.
    expect(finding((await doctor(db)).report, 'capture')).toMatchObject({ level: 'ok' });
  });
});
