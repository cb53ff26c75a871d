/**
 * Ahenk's own tables. drizzle-kit turns this file into `migrations/` (see drizzle.config.ts);
 * `initializeDatabase` applies them with a migrations table of its own, so an app's drizzle
 * migrations and ours never share bookkeeping.
 */
import { sql } from 'drizzle-orm';
import { blob, check, index, integer, primaryKey, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import type { SyncedTableMeta } from './synced-table.ts';

/** Key/value facts about this database: schema version, this device's identity. */
export const ahenkMeta = sqliteTable('ahenk_meta', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
});

/** Devices that wrote entries this database holds; id 0 is always this device. */
export const ahenkSites = sqliteTable('ahenk_sites', {
  id: integer('id').primaryKey(),
  device: text('device').notNull().unique(),
});

/**
 * Capture metadata for each synced table, so a process that never saw the TypeScript schema
 * (the daemon, the CLI) can still export and merge it. `columns` is a JSON array in bit order:
 * a column keeps its bit forever, so oplog masks stay meaningful across migrations.
 */
export const ahenkTables = sqliteTable('ahenk_tables', {
  id: integer('id').primaryKey(),
  name: text('name').notNull().unique(),
  pkColumn: text('pk_column').notNull(),
  columns: text('columns').notNull(),
  resolvers: text('resolvers').notNull().default('{}'),
  triggerHash: text('trigger_hash').notNull(),
});

/**
 * The operation log. `seq` is local order and, for this device's own writes, the HLC stamp
 * itself (hlc is NULL then); entries merged from peers keep their own hlc and site.
 * `cl` is the row's causal length after the operation; `cols` a bitmask of the columns set.
 * `ix` puts an entry in one of two (tbl, pk) indexes. Local inserts and updates are logged with ix
 * NULL, so a write costs one append and no index insert; merge indexes them in bulk ("folds")
 * before it needs to look rows up. ix = 1 (ahenk_oplog_row) holds every entry whose causal length
 * is above 1: deletes (indexed at once) and entries of re-inserted rows. A row's causal length is
 * the highest there, or 1 when it has none, so triggers look it up in an index that only rows
 * ever deleted are in. ix = 0 (ahenk_oplog_history) holds the rest, for merge's history lookups.
 * `more` holds further clock groups of a row that merge logged (src/merge/clock-groups.ts): the
 * cells a peer's row brings in with several stamps take one log row, not one per stamp.
 * `pk` is the row's key as text, except in entries of ahenk_oplog_history (ix = 0) whose key is a
 * canonical lower-case UUID: those hold its 16 bytes (src/oplog/log-key.ts).
 */
export const ahenkOplog = sqliteTable(
  'ahenk_oplog',
  {
    seq: integer('seq').primaryKey(),
    hlc: integer('hlc'),
    site: integer('site').notNull().default(0),
    tbl: integer('tbl').notNull(),
    pk: text('pk').notNull(),
    op: integer('op').notNull(),
    cl: integer('cl').notNull(),
    cols: integer('cols').notNull().default(0),
    ix: integer('ix'),
    more: blob('more'),
  },
  (t) => [index('ahenk_oplog_row').on(t.tbl, t.pk, t.cl).where(sql`${t.ix} = 1`), index('ahenk_oplog_history').on(t.tbl, t.pk).where(sql`${t.ix} = 0`)],
);

/**
 * One row. `hlc`: highest stamp received from peers; triggers stamp above it, so receive() holds
 * across processes. `folded`: every oplog entry up to this seq is in one of the (tbl, pk) indexes.
 * `compacted`: compactOplog has dropped the superseded entries of every row written up to this seq.
 */
export const ahenkClock = sqliteTable(
  'ahenk_clock',
  {
    id: integer('id').primaryKey(),
    hlc: integer('hlc').notNull(),
    folded: integer('folded').notNull().default(0),
    compacted: integer('compacted').notNull().default(0),
  },
  (t) => [check('ahenk_clock_single_row', sql`${t.id} = 0`)],
);

/** Holds a row only inside merge's own transaction: triggers skip capture while it exists. */
export const ahenkApplyGuard = sqliteTable('ahenk_apply_guard', {
  id: integer('id').primaryKey(),
});

/**
 * Entries that could not be applied yet (unknown table/column, clock too far ahead). `entry` is
 * the entry in src/merge/held-codec.ts's binary form (rows held before migration 0002 keep their
 * superjson text, read as such); `bytes` its size, for the quarantine's bound; `hlc` the stamp of
 * an entry held for clock drift (NULL otherwise), so the node retries it once it is inside the
 * allowance; `device` the device that wrote it, for the drift report.
 */
export const ahenkQuarantine = sqliteTable(
  'ahenk_quarantine',
  {
    // AUTOINCREMENT: an entry held again gets an id above every earlier one, so a retry in slices never takes it twice.
    id: integer('id').primaryKey({ autoIncrement: true }),
    tableName: text('table_name').notNull(),
    reason: text('reason').notNull(),
    entry: blob('entry').notNull(),
    receivedAt: integer('received_at').notNull(),
    bytes: integer('bytes').notNull().default(0),
    hlc: integer('hlc'),
    device: text('device'),
  },
  (t) => [index('ahenk_quarantine_hlc').on(t.hlc).where(sql`${t.hlc} IS NOT NULL`)],
);

export const ahenkUsers = sqliteTable('ahenk_users', {
  id: text('id').primaryKey(),
  userName: text('user_name').notNull().unique(),
  email: text('email').notNull().unique(),
  passwordHash: text('password_hash').notNull(),
  createdAt: integer('created_at').notNull(),
});

/**
 * The user's device list. It is itself synced between the user's devices (SYSTEM_SYNCED_TABLES),
 * so a device paired on one reaches the others and a revocation reaches all of them. Hence the
 * shape of a synced table: a text key, SQL defaults for every NOT NULL column (a revocation may
 * arrive before the row it revokes), no foreign key and no unique peer_id (two devices may record
 * the same key; a revoked record for a key wins over any other, see src/auth/devices.ts).
 */
export const ahenkDevices = sqliteTable(
  'ahenk_devices',
  {
    id: text('id').primaryKey(),
    userId: text('user_id').notNull().default(''),
    deviceType: text('device_type').notNull().default(''),
    pushToken: text('push_token'),
    peerId: text('peer_id'),
    createdAt: integer('created_at').notNull().default(0),
    revokedAt: integer('revoked_at'),
  },
  (t) => [index('ahenk_devices_peer').on(t.peerId), index('ahenk_devices_user').on(t.userId)],
);

/**
 * Revoked device keys, by key. A revocation names the key itself, not a device record, so no edit
 * of the device list (a record deleted, re-inserted, or pointed at another key) can undo it; rows
 * are only ever added (merge ignores deletes and re-inserts of this table, see APPEND_ONLY_TABLES).
 */
export const ahenkRevocations = sqliteTable('ahenk_revocations', {
  peerId: text('peer_id').primaryKey(),
  revokedAt: integer('revoked_at').notNull().default(0),
});

/**
 * Fixed ahenk_tables ids of the system tables. SQLite stores the integers 0 and 1 in no record
 * bytes at all, so the device list takes 0 and the first app table still gets 1: every log row of
 * an app with one synced table then spends nothing on its table id. Revocations are rare: -1.
 */
export const SYSTEM_TABLE_IDS: ReadonlyMap<string, number> = new Map([
  ['ahenk_devices', 0],
  ['ahenk_revocations', -1],
]);

/**
 * System tables whose rows are never deleted or re-inserted: merge ignores a peer's delete or
 * re-insert (a causal length other than 1) of them, so a revoked device cannot reset a row to
 * undo its revocation. Ahenk's own API never deletes these rows.
 */
export const APPEND_ONLY_TABLES: ReadonlySet<string> = new Set(['ahenk_devices', 'ahenk_revocations']);

/**
 * System tables every Ahenk database syncs besides the app's. Revocation is sticky: `max` keeps
 * the revocation time once any device has set one.
 */
export const SYSTEM_SYNCED_TABLES: readonly SyncedTableMeta[] = [
  {
    name: 'ahenk_devices',
    pkColumn: 'id',
    columns: ['user_id', 'device_type', 'push_token', 'peer_id', 'created_at', 'revoked_at'],
    resolvers: { revoked_at: 'max' },
  },
  { name: 'ahenk_revocations', pkColumn: 'peer_id', columns: ['revoked_at'], resolvers: { revoked_at: 'max' } },
];

/**
 * Peers this device knows, with when it last saw and last synced them, and how many entries went
 * each way in the last sync session (`ahenk status` shows them; their addresses: below).
 */
export const ahenkPeers = sqliteTable('ahenk_peers', {
  peerId: text('peer_id').primaryKey(),
  lastSeen: integer('last_seen'),
  lastSync: integer('last_sync'),
  lastSent: integer('last_sent'),
  lastReceived: integer('last_received'),
});

/**
 * Every address a known peer was reached at or said it listens on (direct or through a relay,
 * without the trailing /p2p/<peer>), with when it was learned and last worked, and its failures
 * since then: the dialer tries the freshest first and backs off the dead (src/sync/node/peer-store.ts).
 */
export const ahenkPeerAddresses = sqliteTable(
  'ahenk_peer_addresses',
  {
    peerId: text('peer_id').notNull(),
    address: text('address').notNull(),
    learnedAt: integer('learned_at').notNull(),
    lastOk: integer('last_ok'),
    failures: integer('failures').notNull().default(0),
    lastFailure: integer('last_failure'),
    lastError: text('last_error'),
  },
  (t) => [primaryKey({ columns: [t.peerId, t.address] })],
);

/**
 * Sync progress per peer: how far we have received from it (its cursor), and how far it has
 * acknowledged our log (`acked`, a seq of ahenk_oplog; NULL until a session told us), from which
 * `ahenk status` counts the entries still waiting to be sent to it.
 */
export const ahenkCursors = sqliteTable('ahenk_cursors', {
  peerId: text('peer_id').primaryKey(),
  received: text('received').notNull().default('0'),
  acked: integer('acked'),
});
