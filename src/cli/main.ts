/**
 * The `ahenk` command. `run(argv, io)` parses and runs one command and resolves with its exit
 * code; it never exits the process (bin/ahenk.js does), so tests call it in-process.
 */
import { readFileSync } from 'node:fs';
import { CommanderError } from 'commander';
import { AhenkError } from '../errors.ts';
import { deviceCommand } from './commands/device.ts';
import { initCommand } from './commands/init.ts';
import { joinCommand } from './commands/join.ts';
import { acceptCommand } from './commands/accept.ts';
import { logsCommand } from './commands/logs.ts';
import { pairCommand } from './commands/pair.ts';
import { relayCommand } from './commands/relay.ts';
import { peerCommand } from './commands/peer.ts';
import { resetIdentityCommand } from './commands/reset-identity.ts';
import { startCommand } from './commands/start.ts';
import { statusCommand } from './commands/status.ts';
import { stopCommand } from './commands/stop.ts';
import { syncCommand } from './commands/sync.ts';
import { tablesCommand } from './commands/tables.ts';
import { doctorCommand } from './commands/doctor.ts';
import { CommandFailedError, EXIT, UsageError } from './errors.ts';
import { writeLine, type CliIo } from './io.ts';
import { buildProgram, type CommandSpec } from './spec.ts';

export { processIo, type CliIo, type Reader, type Writer } from './io.ts';
export { CommandFailedError, EXIT, UsageError } from './errors.ts';

export const COMMANDS: CommandSpec = {
  name: 'ahenk',
  summary: 'keep the SQLite databases of your devices in sync, peer to peer',
  description:
    'Ahenk keeps the SQLite databases of one person\'s devices in sync, peer to peer. ' +
    'Every command takes the database with --db <path> (or $AHENK_DB).',
  commands: [initCommand, statusCommand, deviceCommand, peerCommand, startCommand, stopCommand, syncCommand, logsCommand, tablesCommand, doctorCommand, pairCommand, joinCommand, acceptCommand, resetIdentityCommand, relayCommand],
};

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram(COMMANDS, io, (c) => (code = c), VERSION);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (error) {
    return report(error, io);
  }
}

/** Prints a failure as one line (a stack only with AHENK_DEBUG=1) and picks the exit code. */
function report(error: unknown, io: CliIo): number {
  // Commander has printed its own message (or the help) already.
  if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  const debug = io.env.AHENK_DEBUG === '1';
  if (error instanceof UsageError || error instanceof CommandFailedError) {
    writeLine(io.stderr, `ahenk: ${error.message}`);
    if (error instanceof UsageError) writeLine(io.stderr, '(run ahenk --help, or ahenk <command> --help, for usage)');
    if (debug) writeLine(io.stderr, error.stack ?? '');
    return error.exitCode;
  }
  if (error instanceof AhenkError) {
    writeLine(io.stderr, `ahenk: ${debug ? error.message : (error.message.split('\n')[0] ?? '')} (${error.code})`);
    if (debug) writeLine(io.stderr, error.stack ?? '');
    return EXIT.failure;
  }
  const failure = error instanceof Error ? error : new Error(String(error));
  // Some libraries put a whole report in the message (libp2p's listen failures do): its first line says what failed.
  writeLine(io.stderr, `ahenk: ${debug ? failure.message : (failure.message.split('\n')[0] ?? '')}`);
  writeLine(io.stderr, debug ? (failure.stack ?? '') : '(set AHENK_DEBUG=1 for the stack trace)');
  return EXIT.failure;
}
