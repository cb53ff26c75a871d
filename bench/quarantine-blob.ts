/**
 * Memory and time of quarantining one large blob (issue 12, defect 4): a 64 MiB value for a column
 * the receiver does not have yet is merged (and held), then retried once. Run it in a process of
 * its own, so the peak RSS is this work's: `npx tsx bench/quarantine-blob.ts [MiB]`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'drizzle-orm/sqlite-core';
import { openConnection } from '../src/sqlite/index.ts';
import { defineSyncedTable, initializeDatabase, merge, retryQuarantined, type OplogEntry } from '../src/index.ts';
import { formatHlc, packHlc } from '../src/clock/timestamp.ts';

const mib = Number(process.argv[2] ?? 64);
const notes = defineSyncedTable('notes', { id: text('id').primaryKey(), title: text('title') });
const dir = mkdtempSync(join(tmpdir(), 'ahenk-qblob-'));
try {
  const pre = openConnection(join(dir, 'b.db'));
  pre.exec('CREATE TABLE notes (id TEXT PRIMARY KEY, title TEXT)');
  pre.close();
  const db = initializeDatabase(join(dir, 'b.db'), { schema: { notes } });
  const blob = new Uint8Array(mib * 1024 * 1024);
  for (let i = 0; i < blob.length; i += 4096) blob[i] = i & 0xff;
  const entry: OplogEntry = { table: 'notes', pk: 'n1', cl: 1, groups: [{ hlc: formatHlc(packHlc(Date.now(), 0)), device: 'peer-a', values: { title: 'x', attachment: blob } }] };
  const rssBefore = process.memoryUsage().rss;
  let t = performance.now();
  const result = merge(db, [entry]);
  const mergeMs = performance.now() - t;
  t = performance.now();
  retryQuarantined(db);
  const retryMs = performance.now() - t;
  const peak = process.resourceUsage().maxRSS * 1024;
  const row = db.$connection.prepare('SELECT length(entry) FROM ahenk_quarantine').value();
  console.log(JSON.stringify({ mib, held: result.quarantined.length, storedBytes: Number(row), mergeMs: Math.round(mergeMs), retryMs: Math.round(retryMs), rssBeforeMiB: Math.round(rssBefore / 2 ** 20), peakRssMiB: Math.round(peak / 2 ** 20) }));
  db.$connection.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
