/**
 * Installs or upgrades capture for the synced tables: registers them in ahenk_tables, (re)creates
 * their triggers when missing or out of date (drizzle-kit table rebuilds drop them), and logs rows
 * that existed before capture so they sync too. Idempotent; when nothing changed it only reads.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { quoteIdent, type SqliteConnection } from '../sqlite/index.ts';
import { DatabaseError } from '../errors.ts';
import { resolverName } from '../schema/resolvers.ts';
import type { SyncedTableMeta } from '../schema/synced-table.ts';
import { SYSTEM_TABLE_IDS } from '../schema/system.ts';
import { invalidateCatalog, liveColumnsOf, loadCatalog, primaryKeyOf, resolversOf, tableExists } from '../oplog/catalog.ts';
import { NEXT_SEQ_SQL, OP, triggerNames } from '../oplog/format.ts';
import type { CaptureTarget } from '../oplog/catalog.ts';
import { foldOplog } from '../oplog/fold.ts';
import { ALL_COLUMNS, bitOf, captureTriggerSql } from './triggers.ts';
import { CL_INDEXED, HISTORY_INDEXED, ixOfCl } from '../oplog/log-index.ts';
import { logKeyOf, packKeySql } from '../oplog/log-key.ts';

export interface CaptureInstallReport {
  /** Tables whose triggers were created or re-created. */
  installed: string[];
  /** Rows logged because they existed before capture covered them. */
  backfilled: number;
}

export function installCapture(raw: SqliteConnection, tables: readonly SyncedTableMeta[]): CaptureInstallReport {
  const report: CaptureInstallReport = { installed: [], backfilled: 0 };
  raw.transaction(() => {
    for (const meta of tables) installOne(raw, meta, report);
  });
  // This connection's own writes to ahenk_tables move neither schema_version nor data_version.
  invalidateCatalog(raw);
  return report;
}

/**
 * refreshCapture when another connection changed a synced table since capture was installed (the
 * catalog says it is stale): what export, snapshot and merge do before they read or write the log.
 */
export function refreshCaptureIfStale(raw: SqliteConnection): void {
  if (loadCatalog(raw).stale) refreshCapture(raw);
}

/** Re-checks every table already registered in this database (what the daemon and CLI do). */
export function refreshCapture(raw: SqliteConnection): CaptureInstallReport {
  const rows = raw.prepare('SELECT name, pk_column AS pkColumn, columns, resolvers FROM ahenk_tables').all() as {
    name: string;
    pkColumn: string;
    columns: string;
    resolvers: string;
  }[];
  const metas: SyncedTableMeta[] = rows
    .filter((row) => tableExists(raw, row.name))
    .map((row) => ({
      name: row.name,
      pkColumn: row.pkColumn,
      columns: liveColumnsOf(raw, row.name).filter((c) => c !== row.pkColumn),
      // Stored names (custom resolvers' too) pass through resolverName unchanged.
      resolvers: Object.fromEntries(resolversOf(row.resolvers, row.name)) as SyncedTableMeta['resolvers'],
    }));
  return installCapture(raw, metas);
}

function installOne(raw: SqliteConnection, meta: SyncedTableMeta, report: CaptureInstallReport): void {
  if (!tableExists(raw, meta.name)) {
    throw new DatabaseError(`synced table "${meta.name}" does not exist in the database; apply your migrations first`);
  }
  const pk = primaryKeyOf(raw, meta.name);
  if (pk.length !== 1 || pk[0] !== meta.pkColumn) {
    throw new DatabaseError(`table "${meta.name}" has primary key (${pk.join(', ')}) in the database, but the schema says "${meta.pkColumn}"`);
  }
  const live = liveColumnsOf(raw, meta.name).filter((c) => c !== meta.pkColumn);
  const resolvers = Object.fromEntries(Object.entries(meta.resolvers).map(([c, spec]) => [c, resolverName(spec)]));

  const existing = raw.prepare('SELECT id, columns, trigger_hash AS hash FROM ahenk_tables WHERE name = ?', { integers: 'number' }).get(meta.name) as
    | { id: number; columns: string; hash: string }
    | undefined;
  // Bits are append-only: a column keeps its bit after it is dropped, new columns get new bits.
  const known = existing ? (JSON.parse(existing.columns) as string[]) : [];
  const columns = [...known, ...live.filter((c) => !known.includes(c))];
  if (columns.length > 62) throw new DatabaseError(`table "${meta.name}" has had more than 62 synced columns; masks cannot hold them`);

  const id = existing?.id ?? SYSTEM_TABLE_IDS.get(meta.name) ?? nextTableId(raw);
  const target: CaptureTarget = { id, name: meta.name, pkColumn: meta.pkColumn, columns, liveColumns: live };
  const statements = captureTriggerSql(target);
  // SHA-256 in JS, not node:crypto, so capture installs in a browser's worker too.
  const hash = bytesToHex(sha256(utf8ToBytes(statements.join('\n'))));
  const triggersPresent = countTriggers(raw, meta.name) === statements.length;

  raw
    .prepare(
      `INSERT INTO ahenk_tables (id, name, pk_column, columns, resolvers, trigger_hash) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET columns = excluded.columns, resolvers = excluded.resolvers, trigger_hash = excluded.trigger_hash
       WHERE columns IS NOT excluded.columns OR resolvers IS NOT excluded.resolvers OR trigger_hash IS NOT excluded.trigger_hash`,
    )
    .run(id, meta.name, meta.pkColumn, JSON.stringify(columns), JSON.stringify(resolvers), hash);

  if (existing && existing.hash === hash && triggersPresent) return;
  for (const name of Object.values(triggerNames(meta.name))) raw.exec(`DROP TRIGGER IF EXISTS ${quoteIdent(name)}`);
  for (const sql of statements) raw.exec(sql);
  report.installed.push(meta.name);
  report.backfilled += backfill(raw, target);
  if (existing) report.backfilled += backfillAddedColumns(raw, target, live.filter((c) => !known.includes(c)));
}

/**
 * A column just registered can only hold a value other than its default if something wrote it while
 * the triggers did not know it yet (another connection, between the migration and this install):
 * those cells are logged now, with a fresh stamp, as the update they were.
 */
function backfillAddedColumns(raw: SqliteConnection, target: CaptureTarget, added: readonly string[]): number {
  if (added.length === 0) return 0;
  const defaults = new Map((raw.prepare('SELECT name, dflt_value AS d FROM pragma_table_info(?)').all(target.name) as { name: string; d: string | null }[]).map((r) => [r.name, r.d]));
  const pk = quoteIdent(target.pkColumn);
  const mask = added.map((c) => `(CASE WHEN t.${quoteIdent(c)} IS NOT (${defaults.get(c) ?? 'NULL'}) THEN ${bitOf(target, c)} ELSE 0 END)`).join(' | ');
  const rows = raw.prepare(`SELECT pk, mask FROM (SELECT t.${pk} AS pk, ${mask} AS mask FROM ${quoteIdent(target.name)} AS t) WHERE mask != 0`).all() as { pk: string; mask: bigint }[];
  const clOf = raw.prepare(`SELECT coalesce(max(cl), 0) | 1 FROM ahenk_oplog WHERE tbl = ? AND pk = ? AND ${CL_INDEXED}`);
  const insert = raw.prepare(`INSERT INTO ahenk_oplog (seq, tbl, pk, op, cl, cols, ix) VALUES (${NEXT_SEQ_SQL}, ?, ?, ${OP.update}, ?, ?, ?)`);
  for (const row of rows) {
    const cl = clOf.value(target.id, String(row.pk)) as bigint;
    insert.run(target.id, logKeyOf(String(row.pk), cl), cl, row.mask, ixOfCl(Number(cl)));
  }
  return rows.length;
}

function nextTableId(raw: SqliteConnection): number {
  const row = raw.prepare('SELECT coalesce(max(id), 0) + 1 AS id FROM ahenk_tables', { integers: 'number' }).get() as { id: number };
  return row.id;
}

/** How many of a synced table's capture triggers exist (4 when capture is in place). */
export function countTriggers(raw: SqliteConnection, table: string): number {
  const names = Object.values(triggerNames(table));
  const row = raw
    .prepare(`SELECT count(*) AS n FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? AND name IN (?, ?, ?, ?)`, { integers: 'number' })
    .get(table, ...names) as { n: number };
  return row.n;
}

/** Logs rows that no oplog entry covers (data from before capture, or written while triggers were missing). */
function backfill(raw: SqliteConnection, target: CaptureTarget): number {
  foldOplog(raw);
  const pk = quoteIdent(target.pkColumn);
  const missing = raw
    .prepare(
      `SELECT t.${pk} AS pk FROM ${quoteIdent(target.name)} AS t
       WHERE NOT EXISTS (SELECT 1 FROM ahenk_oplog o WHERE o.tbl = ? AND o.pk = t.${pk} AND o.${CL_INDEXED})
         AND NOT EXISTS (SELECT 1 FROM ahenk_oplog o WHERE o.tbl = ? AND o.pk = ${packKeySql(`t.${pk}`)} AND o.${HISTORY_INDEXED})`,
    )
    .values(target.id, target.id)
    .map(([key]) => key as string);
  const insert = raw.prepare(`INSERT INTO ahenk_oplog (seq, tbl, pk, op, cl, cols, ix) VALUES (${NEXT_SEQ_SQL}, ?, ?, ${OP.insert}, 1, ?, ${ixOfCl(1)})`);
  for (const key of missing) insert.run(target.id, logKeyOf(String(key), 1), ALL_COLUMNS);
  return missing.length;
}
