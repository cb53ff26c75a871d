/** `ahenk init`: creates or opens a device database, and optionally registers the account on it. */
import { registerUser } from '../../auth/accounts.ts';
import { authorizeDevice } from '../../auth/devices.ts';
import { normalizeDeviceType } from '../../auth/validate.ts';
import { getDeviceId } from '../../database/identity.ts';
import { DB_OPTION, flag, JSON_OPTION, stringOption, withDatabase, type CliDatabase } from '../context.ts';
import { AuthError } from '../../errors.ts';
import { CommandFailedError, UsageError } from '../errors.ts';
import { writeJson, writeLine } from '../io.ts';
import { listTables } from '../../capture/existing-table.ts';
import { readPassword } from '../prompt.ts';
import type { CommandSpec } from '../spec.ts';

export const initCommand: CommandSpec = {
  name: 'init',
  summary: 'create or open a device database and print its device id',
  description:
    'Creates the database file if it does not exist (opening an existing one only upgrades it) and prints this device\'s id. ' +
    'With --user and --email it also registers the account and puts this device on its device list; ' +
    'the password is read from $AHENK_PASSWORD or from stdin, never from the command line.',
  options: [
    DB_OPTION,
    { flags: '--user <name>', description: 'register an account with this user name' },
    { flags: '--email <email>', description: 'the account\'s email (with --user)' },
    { flags: '--device-type <type>', description: 'how this device appears on the device list (with --user)', default: 'device' },
    JSON_OPTION,
  ],
  run: async (context) => {
    const userName = stringOption(context, 'user');
    const email = stringOption(context, 'email');
    if ((userName === undefined) !== (email === undefined)) throw new UsageError('--user and --email go together: give both to register an account, or neither');
    // Checked before anything is written: a bad device type must not leave an account without a device.
    let deviceType: string;
    try {
      deviceType = normalizeDeviceType(stringOption(context, 'deviceType') ?? 'device');
    } catch (error) {
      throw new UsageError(`--device-type: ${(error as Error).message}`);
    }
    // Read before the database is touched, so a missing password leaves no half-made account.
    const password = userName === undefined ? undefined : await readPassword(context.io);
    return withDatabase(
      context,
      async (db) => {
        const deviceId = getDeviceId(db.$connection);
        let user: { id: string; userName: string; email: string } | undefined;
        if (userName !== undefined && email !== undefined && password !== undefined) {
          user = await registerAccount(db, { userName, email, password, deviceId, deviceType });
        }
        const { stdout } = context.io;
        // A database that already had tables: which sync (none until an app or tables add says so).
        const tables = listTables(db.$connection);
        if (flag(context, 'json')) {
          writeJson(stdout, {
            database: db.path,
            deviceId,
            tables: tables.map((t) => ({ name: t.name, synced: t.synced })),
            ...(user ? { user: { id: user.id, userName: user.userName, email: user.email } } : {}),
          });
        } else {
          writeLine(stdout, `Database:  ${db.path}`);
          writeLine(stdout, `Device id: ${deviceId}`);
          if (tables.length > 0) {
            const synced = tables.filter((t) => t.synced).map((t) => t.name);
            const not = tables.filter((t) => !t.synced).map((t) => t.name);
            writeLine(stdout, `Synced tables: ${synced.length > 0 ? synced.join(', ') : 'none yet'}`);
            if (not.length > 0) writeLine(stdout, `Not synced:    ${not.join(', ')} (ahenk tables says which can; ahenk tables add <name> makes one sync)`);
          }
          if (user) writeLine(stdout, `Registered ${user.userName} <${user.email}> (user ${user.id}); this device is on its device list.`);
        }
      },
      { create: true },
    );
  },
};

interface AccountInput {
  userName: string;
  email: string;
  password: string;
  deviceId: string;
  deviceType: string;
}

/**
 * The account and this device on its list, or neither: one transaction spans the password hashing,
 * so a device already on another account's list (or any other failure) leaves no account behind.
 */
async function registerAccount(db: CliDatabase, input: AccountInput): Promise<{ id: string; userName: string; email: string }> {
  const raw = db.$connection;
  raw.exec('BEGIN IMMEDIATE');
  try {
    const user = await registerUser(db, input.userName, input.email, input.password);
    authorizeDevice(db, { userId: user.id, peerId: input.deviceId, deviceType: input.deviceType });
    raw.exec('COMMIT');
    return user;
  } catch (error) {
    if (raw.inTransaction) raw.exec('ROLLBACK');
    if (error instanceof AuthError && error.code === 'PEER_ID_TAKEN') {
      const owner = raw.prepare('SELECT u.user_name FROM ahenk_devices d JOIN ahenk_users u ON u.id = d.user_id WHERE d.peer_id = ? ORDER BY d.created_at LIMIT 1').value(input.deviceId);
      const named = typeof owner === 'string' ? ` (${owner})` : '';
      throw new CommandFailedError(`this device is already on the device list of another account${named}; a database holds one account: nothing was registered`, undefined, { cause: error });
    }
    throw error;
  }
}
