/**
 * `ahenk relay`: runs a relay for the user's devices on an always-on machine until SIGINT/SIGTERM.
 * It needs no device database: its key, join token and admitted devices live in its state file.
 * It prints the join token at its first start only, serves its control socket (`<state>.sock`,
 * for `ahenk relay admit|revoke|token`), writes its counters next to the state file
 * (`<state>.status.json`) every few seconds, logs them periodically and on SIGUSR1;
 * `ahenk relay --status` prints them.
 */
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { NodeConfigError } from '../../sync/node/errors.ts';
import { createRelayNode, type RelayConfig, type RelayNode } from '../../sync/relay/index.ts';
import { formatRelayStats, type RelayStats } from '../../sync/relay/counters.ts';
import type { ControlServer } from '../control-socket.ts';
import { flag, JSON_OPTION, stringOption, stringsOption } from '../context.ts';
import { CommandFailedError, UsageError } from '../errors.ts';
import { writeJson, writeLine } from '../io.ts';
import { EventLog, untilAborted } from '../node.ts';
import type { CommandContext, CommandSpec } from '../spec.ts';
import { lockRelayState, relayStateFile, relaySubcommands, serveRelayControl, STATE_OPTION } from './relay-admin.ts';

/** How often a running relay rewrites its status file: fresh enough for a glance, cheap on disk. */
const STATUS_FILE_INTERVAL_MS = 10_000;

export const relayCommand: CommandSpec = {
  name: 'relay',
  summary: 'run a relay for your devices on an always-on machine (Ctrl-C stops it)',
  description:
    'Runs a circuit-relay-v2 relay that lets your devices reach each other across NATs. It serves only ' +
    'the devices admitted: those that presented its join token once (`ahenk relay add` on the device; the ' +
    'token is printed at the first start and by `ahenk relay token`), and those admitted by id (--admit, or ' +
    '`ahenk relay admit` while it runs). Admission is kept in the state file with the relay\'s key, so its ' +
    'address stays the same across restarts. Give each device the printed address with `ahenk start --relay <address>`. ' +
    '--status prints the counters of the relay running on the same state file.',
  commands: relaySubcommands,
  options: [
    STATE_OPTION,
    { flags: '--listen <multiaddr>', description: 'address to listen on, repeatable (default: /ip4/0.0.0.0/tcp/4001 and /ip4/0.0.0.0/tcp/4002/ws)', repeatable: true },
    { flags: '--announce <multiaddr>', description: 'address to tell devices instead of the listen addresses (a public IP or DNS name), repeatable', repeatable: true },
    { flags: '--admit <deviceId>', description: 'admit a device (remembered in the state file), repeatable', repeatable: true },
    { flags: '--revoke <deviceId>', description: 'stop serving a device (removed from the state file), repeatable', repeatable: true },
    { flags: '--max-reservations <n>', description: 'reservations held at once (default 64)' },
    { flags: '--max-circuits-per-peer <n>', description: 'circuits one device may have open at once (default 8)' },
    { flags: '--circuit-duration <seconds>', description: 'longest life of one circuit (default 3600); a cut sync resumes on the next' },
    { flags: '--circuit-bytes <n>', description: 'bytes one circuit may carry (default 1073741824)' },
    { flags: '--status-interval <seconds>', description: 'how often to log the counters (default 600; 0 never)' },
    { flags: '--status', description: 'print the counters of the relay running on this state file, and exit' },
    { ...JSON_OPTION, description: 'print JSON (with --status), or one JSON object per log line' },
  ],
  run: async (context) => {
    const stateFile = relayStateFile(context);
    if (flag(context, 'status')) return printStatus(context, stateFile);
    const log = new EventLog(context.io, flag(context, 'json'));
    // Held for the relay's life: one relay per state file, and no offline change behind its back.
    const lock = await lockRelayState(stateFile);
    let relay: RelayNode;
    try {
      relay = await startRelay(context, stateFile, log);
    } catch (error) {
      lock.release();
      throw error;
    }
    const statusFile = `${stateFile}.status.json`;
    const writeStatus = (): void => writeStatusFile(statusFile, relay.stats());
    const interval = setInterval(writeStatus, STATUS_FILE_INTERVAL_MS);
    const offSignal = context.io.onStatusSignal?.(() => {
      writeStatus();
      const stats = relay.stats();
      const { refused, ...counts } = stats;
      log.line('relay:status', { ...counts, refusedConnections: refused.connections, refusedReservations: refused.reservations, refusedCircuits: refused.circuits, refusedJoins: refused.joins }, formatRelayStats(stats));
    });
    let control: ControlServer | undefined;
    try {
      for (const peerId of stringsOption(context, 'revoke')) await relay.revoke(peerId);
      control = await serveRelayControl(stateFile, relay);
      writeStatus();
      log.line('relay:start', { peerId: relay.peerId, addresses: relay.getMultiaddrs() }, `relay ${relay.peerId} started; ${relay.admitted().length} devices admitted`);
      for (const address of relay.getMultiaddrs()) log.line('listen', { address }, `listening on ${address}`);
      // Shown this once, when it is made; `ahenk relay token` shows it again to the owner of the state file.
      if (relay.joinTokenCreated) log.line('relay:token', { token: relay.joinToken }, `join token: ${relay.joinToken} (on each device: ahenk relay add <address> --token <token>; shown only now, \`ahenk relay token\` prints it again)`);
      await untilAborted(context.io.signal);
      log.line('stop', {}, 'stopping');
    } finally {
      clearInterval(interval);
      offSignal?.();
      await control?.close();
      await relay.stop();
      lock.release();
    }
    log.line('stopped', {}, 'stopped');
  },
};

async function startRelay(context: CommandContext, stateFile: string, log: EventLog): Promise<RelayNode> {
  const listen = stringsOption(context, 'listen');
  const config: RelayConfig = {
    stateFile,
    admit: stringsOption(context, 'admit'),
    announceAddresses: stringsOption(context, 'announce'),
    limits: {
      ...optionalCount(context, 'maxReservations', '--max-reservations', (n) => ({ maxReservations: n })),
      ...optionalCount(context, 'maxCircuitsPerPeer', '--max-circuits-per-peer', (n) => ({ maxCircuitsPerPeer: n })),
      ...optionalCount(context, 'circuitDuration', '--circuit-duration', (n) => ({ circuitDurationMs: n * 1000 })),
      ...optionalCount(context, 'circuitBytes', '--circuit-bytes', (n) => ({ circuitBytes: n })),
    },
    ...optionalCount(context, 'statusInterval', '--status-interval', (n) => ({ statusIntervalMs: n * 1000 }), true),
    log: (message) => log.line('log', { message }, message),
  };
  if (listen.length > 0) config.listenAddresses = listen;
  try {
    return await createRelayNode(config);
  } catch (error) {
    if (error instanceof NodeConfigError) throw new UsageError(error.message);
    if (error instanceof Error && /listen|EADDRINUSE/i.test(error.message)) {
      throw new CommandFailedError(`cannot listen on ${listen.length > 0 ? listen.join(', ') : 'the default ports 4001 and 4002'}: the port may be in use`, undefined, { cause: error });
    }
    throw error;
  }
}

function optionalCount<T>(context: CommandContext, name: string, flagName: string, make: (n: number) => T, zeroAllowed = false): T | Record<string, never> {
  const text = stringOption(context, name);
  if (text === undefined) return {};
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < (zeroAllowed ? 0 : 1)) throw new UsageError(`${flagName} must be a whole number${zeroAllowed ? '' : ' above 0'}, got "${text}"`);
  return make(n);
}

function writeStatusFile(path: string, stats: RelayStats): void {
  const temp = `${path}.tmp`;
  writeFileSync(temp, `${JSON.stringify({ writtenAt: Date.now(), ...stats })}\n`, { mode: 0o600 });
  renameSync(temp, path);
}

function printStatus(context: CommandContext, stateFile: string): number {
  const path = `${stateFile}.status.json`;
  let text: string;
  try {
    if (statSync(path).size > 1 << 16) throw new CommandFailedError(`${path} is not a relay status file`);
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new CommandFailedError(`no relay status at ${path}: is \`ahenk relay --state ${stateFile}\` running?`);
    throw error;
  }
  let status: RelayStats & { writtenAt: number };
  try {
    status = JSON.parse(text) as RelayStats & { writtenAt: number };
  } catch {
    throw new CommandFailedError(`${path} is not a relay status file`);
  }
  if (typeof status.writtenAt !== 'number' || typeof status.refused !== 'object' || status.refused === null) throw new CommandFailedError(`${path} is not a relay status file`);
  if (flag(context, 'json')) {
    writeJson(context.io.stdout, status);
    return 0;
  }
  const age = Math.round((Date.now() - status.writtenAt) / 1000);
  writeLine(context.io.stdout, formatRelayStats(status));
  writeLine(context.io.stdout, `(written ${age} s ago${age > (3 * STATUS_FILE_INTERVAL_MS) / 1000 ? ': the relay may not be running' : ''})`);
  return 0;
}
