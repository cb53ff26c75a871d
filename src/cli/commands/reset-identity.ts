/**
 * `ahenk reset-identity`: gives the database a new device key, for a device whose key was revoked
 * (or leaked), so that the owner can pair it again. Data, log and unsynced writes stay; they reach
 * the user's devices once the new key is paired.
 */
import { readRevocationNotice, resetIdentity } from '../../database/identity.ts';
import { databasePath, DB_OPTION, flag, JSON_OPTION, withDatabase } from '../context.ts';
import { controlSocketPath, queryControlSocket } from '../control-socket.ts';
import { CommandFailedError, UsageError } from '../errors.ts';
import { writeJson, writeLine } from '../io.ts';
import { canAsk, confirm } from '../prompt.ts';
import type { CommandSpec } from '../spec.ts';
import { daemonFiles, refuseIfDaemonRunning } from './daemon-files.ts';

export const resetIdentityCommand: CommandSpec = {
  name: 'reset-identity',
  summary: 'give this device a new key (after it was revoked), keeping its data, so it can be paired again',
  description:
    'Replaces the device key and id of the database. Everything else stays: the data, the account, the ' +
    'device list, and the writes the old key made that no other device has yet; they sync once the new key ' +
    'is paired (ahenk pair on a device of the account, ahenk join here). The old key stays revoked.\n' +
    'A device that was not told it is revoked drops off every device list by this: it asks first (at a ' +
    'terminal), or needs --yes. Refused while a node runs on the database.',
  options: [DB_OPTION, { flags: '--yes', description: 'do not ask, even if this device was not revoked' }, JSON_OPTION],
  run: async (context) => {
    const database = databasePath(context);
    refuseIfDaemonRunning(daemonFiles(database));
    if ((await queryControlSocket(controlSocketPath(database))) !== undefined) {
      throw new CommandFailedError(`a node is running on ${database}; stop it first (ahenk stop --db ${database}, or Ctrl-C in its terminal)`);
    }
    return withDatabase(context, async (db) => {
      const revoked = readRevocationNotice(db);
      if (revoked === undefined && !flag(context, 'yes')) {
        const question = 'This device was not told it is revoked: with a new key it is on no device list until it is paired again. Go on?';
        if (!canAsk(context.io)) throw new UsageError('this device was not told it is revoked; pass --yes to give it a new key anyway');
        if (!(await confirm(context.io, question).catch(() => false))) throw new CommandFailedError('kept the current identity');
      }
      const result = resetIdentity(db);
      const { stdout } = context.io;
      if (flag(context, 'json')) return writeJson(stdout, { ...result, database: db.path });
      writeLine(stdout, `New device id: ${result.deviceId} (was ${result.previousDeviceId}).`);
      writeLine(stdout, 'Its data and unsynced writes are kept; they sync once this device is paired again:');
      writeLine(stdout, `  on a device of the account: ahenk pair --db <its database>`);
      writeLine(stdout, `  here:                       ahenk join <code> --device-type <type> --db ${db.path}`);
    });
  },
};
