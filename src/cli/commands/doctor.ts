/**
 * `ahenk doctor`: checks a database and its daemon and says what is wrong and what to do. It first
 * looks at the file read-only (integrity, capture triggers), since opening it the usual way repairs
 * some things (it re-installs missing triggers); then opens it and checks accounts, the device list,
 * the quarantine, clock drift, the daemon and the peers.
 */
import { countTriggers } from '../../capture/install.ts';
import { triggerNames } from '../../oplog/format.ts';
import { tableExists } from '../../oplog/catalog.ts';
import { getClockDrift } from '../../merge/drift.ts';
import { getSchemaVersion, KNOWN_SCHEMA_VERSION } from '../../database/initialize.ts';
import { getDeviceId, readRevocationNotice } from '../../database/identity.ts';
import { openConnection } from '../../sqlite/index.ts';
import { storedPeerStatuses } from '../../sync/node/peer-store.ts';
import { adapterOf, checkedDatabasePath, DB_OPTION, flag, JSON_OPTION, withDatabase } from '../context.ts';
import { EXIT } from '../errors.ts';
import { writeJson, writeLine } from '../io.ts';
import type { CommandSpec } from '../spec.ts';
import { daemonFiles, readDaemon } from './daemon-files.ts';

export interface DoctorFinding {
  check: string;
  /** ok: nothing to do; warning: worth knowing; problem: sync is hindered until it is fixed. */
  level: 'ok' | 'warning' | 'problem';
  message: string;
}

export const doctorCommand: CommandSpec = {
  name: 'doctor',
  summary: 'check the database and its daemon and say what is wrong (exit 1 when something is)',
  description:
    'Checks the file (SQLite quick_check, the capture triggers of every synced table), the accounts and ' +
    'device list, a revocation, the quarantine, clock drift, the daemon and the known peers. Prints one ' +
    'line per check with what to do; exits 1 when a check found a problem, 0 otherwise.',
  options: [DB_OPTION, JSON_OPTION],
  run: async (context) => {
    const path = checkedDatabasePath(context);
    const findings: DoctorFinding[] = [];
    const add = (check: string, level: DoctorFinding['level'], message: string) => findings.push({ check, level, message });

    // Read-only first: what opening would repair is reported before it is repaired.
    const probe = openConnection(path, { readOnly: true, adapter: adapterOf(context) });
    try {
      const quick = probe.prepare('PRAGMA quick_check').values().map(([line]) => String(line));
      if (quick.length === 1 && quick[0] === 'ok') add('file', 'ok', 'SQLite finds the file sound (quick_check)');
      else add('file', 'problem', `SQLite finds the file damaged: ${quick.slice(0, 3).join('; ')}; restore a backup, or let another device send everything again to a new database (ahenk join)`);
      const tables = !tableExists(probe, 'ahenk_tables')
        ? []
        : (probe.prepare('SELECT name FROM ahenk_tables ORDER BY id').all() as { name: string }[]).map((r) => r.name);
      for (const name of tables) {
        if (!tableExists(probe, name)) {
          add('tables', 'warning', `synced table ${name} is registered but not in this file: apply the app's migrations (its writes from peers wait in the quarantine meanwhile)`);
          continue;
        }
        if (countTriggers(probe, name) !== Object.keys(triggerNames(name)).length) add('capture', 'warning', `the capture triggers of ${name} were missing (a table rebuild by a migration drops them); opening the database re-installed them and logged rows that had no log entry; updates made while they were missing sync only once those rows change again`);
      }
      if (tables.length > 0 && !findings.some((f) => f.check === 'capture')) add('capture', 'ok', `capture triggers in place on ${tables.length} synced tables`);
    } finally {
      probe.close();
    }

    await withDatabase(context, async (db) => {
      const raw = db.$connection;
      const schema = getSchemaVersion(db);
      if (schema > KNOWN_SCHEMA_VERSION) add('version', 'problem', `the database was upgraded by a newer Ahenk (schema ${schema}, this one knows ${KNOWN_SCHEMA_VERSION}): upgrade Ahenk here`);
      const accounts = raw.prepare('SELECT user_name FROM ahenk_users').values().map(([n]) => String(n));
      const self = getDeviceId(raw);
      if (accounts.length === 0) add('account', 'problem', 'no account: nothing syncs until this device is on one (ahenk init --user, or pair it with ahenk join)');
      else if (accounts.length > 1) add('account', 'problem', `this database has ${accounts.length} accounts (${accounts.join(', ')}); a device belongs to one: start again from a new database and ahenk join`);
      else {
        const listed = raw.prepare('SELECT revoked_at FROM ahenk_devices WHERE peer_id = ?').get(self) as { revoked_at: unknown } | undefined;
        if (listed === undefined) add('account', 'problem', `this device is not on ${accounts[0]}'s device list: pair it (ahenk join on this device, ahenk pair on one that is)`);
        else if (listed.revoked_at !== null) add('account', 'problem', 'this device is revoked on its own list: it no longer syncs (ahenk reset-identity, then pair it again)');
        else add('account', 'ok', `on ${accounts[0]}'s device list`);
      }
      const revoked = readRevocationNotice(raw);
      if (revoked !== undefined) add('revoked', 'problem', `${revoked.by} refused this device as revoked: it no longer syncs; its writes stay here (ahenk reset-identity, then pair it again)`);
      const held = raw.prepare("SELECT substr(reason, 1, instr(reason || ':', ':') - 1) AS why, count(*) AS n FROM ahenk_quarantine GROUP BY why ORDER BY n DESC").all() as { why: string; n: bigint }[];
      if (held.length === 0) add('quarantine', 'ok', 'nothing held back');
      else add('quarantine', 'warning', `changes held back: ${held.map((h) => `${h.n} ${h.why}`).join(', ')} (unknown tables or columns apply once the app's migrations add them; clock-drift ones once time catches up)`);
      const drift = getClockDrift(db);
      if (drift.ownAhead) add('clock', 'problem', `this device's stamps run ${Math.round(drift.ownAheadMs / 60_000)} min ahead of its clock: peers hold its writes back until time catches up (see docs/networking.md, clock drift)`);
      else if (drift.heldByPeers.length > 0) add('clock', 'warning', `${drift.heldByPeers.map((p) => p.peerId).join(', ')} said they hold this device's writes back for their stamps: check this device's clock`);
      else add('clock', 'ok', 'stamps within the allowance');
      const daemon = readDaemon(daemonFiles(db.path));
      if (daemon.running) add('daemon', 'ok', `running (pid ${daemon.pid})`);
      else if (daemon.pid !== undefined) add('daemon', 'warning', `a pid file names pid ${daemon.pid}, which is not running: the daemon stopped without cleaning up (ahenk start --detach starts it again)`);
      else add('daemon', 'ok', 'not running (ahenk start --detach runs it in the background)');
      const peers = storedPeerStatuses(raw, self);
      if (peers.length === 0 && accounts.length === 1) add('peers', 'warning', 'no other device known yet: pair one (ahenk pair here, ahenk join there)');
      else if (peers.length > 0) add('peers', 'ok', `${peers.length} other device${peers.length === 1 ? '' : 's'} known`);
    });

    const problems = findings.filter((f) => f.level === 'problem').length;
    const { stdout } = context.io;
    if (flag(context, 'json')) writeJson(stdout, { database: path, problems, findings });
    else {
      for (const f of findings) writeLine(stdout, `${f.level === 'ok' ? 'ok     ' : f.level === 'warning' ? 'warning' : 'PROBLEM'}  ${f.check}: ${f.message}`);
      writeLine(stdout, problems === 0 ? 'No problems found.' : `${problems} problem${problems === 1 ? '' : 's'} found.`);
    }
    return problems === 0 ? EXIT.ok : EXIT.failure;
  },
};
