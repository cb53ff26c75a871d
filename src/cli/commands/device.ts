/** `ahenk device list | revoke`: the user's device list, as this database holds it. */
import type { SqliteConnection } from '../../sqlite/index.ts';
import { revokeDevice } from '../../auth/devices.ts';
import { getDeviceId } from '../../database/identity.ts';
import { DB_OPTION, flag, JSON_OPTION, withDatabase } from '../context.ts';
import { UsageError } from '../errors.ts';
import { formatTime, writeJson, writeLine, writeTable } from '../io.ts';
import type { CommandContext, CommandSpec } from '../spec.ts';

export interface DeviceRow {
  id: string;
  deviceType: string;
  peerId: string | null;
  userName: string | null;
  createdAt: number;
  revokedAt: number | null;
  /** This database's own device. */
  self: boolean;
}

const listCommand: CommandSpec = {
  name: 'list',
  summary: 'list the devices on the device list (revoked ones included)',
  options: [DB_OPTION, JSON_OPTION],
  run: (context) =>
    withDatabase(context, async (db) => {
      const devices = listDevices(db.$connection);
      const { stdout } = context.io;
      if (flag(context, 'json')) return writeJson(stdout, devices);
      if (devices.length === 0) return writeLine(stdout, 'No devices yet: register an account with ahenk init --user, or pair with ahenk join.');
      writeTable(
        stdout,
        ['ID', 'TYPE', 'USER', 'PEER ID', 'ADDED', 'STATUS'],
        devices.map((d) => [d.id, d.deviceType, d.userName ?? '-', d.peerId ?? '-', formatTime(d.createdAt), status(d)]),
      );
    }),
};

const revokeCommand: CommandSpec = {
  name: 'revoke',
  summary: 'revoke a device: it may never sync again (the revocation syncs to every device)',
  args: [{ name: '<device>', description: 'the device id (from ahenk device list) or its peer id' }],
  options: [DB_OPTION, { flags: '--force', description: 'allow revoking this device itself' }, JSON_OPTION],
  run: (context) => revoke(context),
};

export const deviceCommand: CommandSpec = {
  name: 'device',
  summary: 'list or revoke the devices of the account',
  commands: [listCommand, revokeCommand],
};

function revoke(context: CommandContext): Promise<void> {
  return withDatabase(context, async (db) => {
    const target = context.args[0] ?? '';
    const matches = listDevices(db.$connection).filter((d) => d.id === target || d.peerId === target);
    if (matches.length === 0) throw new UsageError(`no device "${target}" on the device list (see ahenk device list)`);
    if (matches.some((d) => d.self) && !flag(context, 'force')) {
      throw new UsageError('that is this device; revoke it from another device, or pass --force to lock this one out of sync');
    }
    const now = Date.now();
    const revoked = matches.map((d) => ({ before: d, after: revokeDevice(db, d.id, now) }));
    const { stdout } = context.io;
    if (flag(context, 'json')) return writeJson(stdout, revoked.map((r) => ({ id: r.after.id, peerId: r.after.peerId, revokedAt: r.after.revokedAt, alreadyRevoked: r.before.revokedAt !== null })));
    for (const { before, after } of revoked) {
      const what = `${after.deviceType} ${after.id}${after.peerId ? ` (peer ${after.peerId})` : ''}`;
      writeLine(stdout, before.revokedAt === null ? `Revoked ${what}.` : `${what} was already revoked at ${formatTime(before.revokedAt)}.`);
    }
  });
}

export function listDevices(raw: SqliteConnection): DeviceRow[] {
  const self = getDeviceId(raw);
  const rows = raw
    .prepare(
      `SELECT d.id, d.device_type AS deviceType, d.peer_id AS peerId, u.user_name AS userName, d.created_at AS createdAt, d.revoked_at AS revokedAt
       FROM ahenk_devices d LEFT JOIN ahenk_users u ON u.id = d.user_id
       ORDER BY d.created_at, d.id`,
      { integers: 'number' },
    )
    .all() as unknown as Omit<DeviceRow, 'self'>[];
  return rows.map((row) => ({ ...row, self: row.peerId === self }));
}

function status(device: DeviceRow): string {
  if (device.revokedAt !== null) return `revoked ${formatTime(device.revokedAt)}`;
  return device.self ? 'this device' : 'active';
}
