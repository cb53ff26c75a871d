/**
 * `ahenk relay token|admit|revoke` change a relay's admission; `ahenk relay add` joins a relay from
 * a device. The first three talk to the relay running on the state file through its control socket
 * (`<state>.sock`, owner-only), so a change takes effect without a restart; with no relay running
 * they edit the state file itself.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Admission } from '../../sync/relay/admission.ts';
import { joinRelay } from '../../sync/relay/index.ts';
import { isPeerId, loadOrCreateState } from '../../sync/relay/state.ts';
import { defaultAdapter } from '../../sqlite/index.ts';
import { NodeConfigError, RelayAdmissionError } from '../../sync/node/errors.ts';
import type { RelayNode } from '../../sync/relay/relay.ts';
import { queryControlSocket, serveControlSocket, type ControlOp, type ControlServer } from '../control-socket.ts';
import { DB_OPTION, flag, JSON_OPTION, stringOption, withDatabase } from '../context.ts';
import { CommandFailedError, UsageError } from '../errors.ts';
import { holdExclusive } from '../node-lock.ts';
import { writeJson, writeLine } from '../io.ts';
import type { CommandContext, CommandSpec, OptionSpec } from '../spec.ts';

export const DEFAULT_RELAY_STATE_FILE = 'ahenk-relay.json';

export const STATE_OPTION: OptionSpec = {
  flags: '--state <path>',
  description: `the relay's state file (default: $AHENK_RELAY_STATE or ./${DEFAULT_RELAY_STATE_FILE})`,
};

/** Where a running relay serves its control socket: beside its state file. */
export function controlSocketPathOfRelay(stateFile: string): string {
  return `${stateFile}.sock`;
}

export function relayStateFile(context: CommandContext): string {
  return resolve(context.io.cwd, stringOption(context, 'state') ?? context.io.env['AHENK_RELAY_STATE'] ?? DEFAULT_RELAY_STATE_FILE);
}

/** Serves the running relay's control socket: status, admit, revoke, token, rotate-token. */
export function serveRelayControl(stateFile: string, relay: RelayNode): Promise<ControlServer> {
  const deviceIdOf = (request: Readonly<Record<string, unknown>>): string => {
    const id = request['deviceId'];
    if (typeof id !== 'string' || id.length > 128) throw new Error('deviceId must be a peer id');
    return id;
  };
  return serveControlSocket(
    controlSocketPathOfRelay(stateFile),
    new Map<string, ControlOp>([
      ['status', () => relay.stats()],
      ['admit', (request) => (relay.admit(deviceIdOf(request)), { admitted: relay.admitted().length })],
      ['revoke', async (request) => (await relay.revoke(deviceIdOf(request)), { admitted: relay.admitted().length })],
      ['token', () => ({ token: relay.joinToken })],
      ['rotate-token', () => ({ token: relay.rotateJoinToken() })],
    ]),
  );
}

/** How long a relay start or an offline change waits for the state file's lock before giving up. */
export const STATE_LOCK_WAIT_MS = 10_000;
const STATE_LOCK_RETRY_MS = 100;

/**
 * The state file's lock (`<state>.lock`, an OS lock the process's end releases, as a node's: see
 * node-lock.ts): a running relay holds it for its life, an offline change while it edits the file.
 * Without it, a change made while a relay starts (before its control socket answers), or two
 * changes at once, read the file before the other wrote it, and one overwrote the other.
 */
export function tryLockRelayState(stateFile: string): { release(): void } | undefined {
  let connection;
  try {
    connection = holdExclusive(`${stateFile}.lock`, defaultAdapter());
  } catch (error) {
    throw new CommandFailedError(`cannot lock the relay state file ${stateFile} (${(error as Error).message}): does its folder exist and may you write there?`, undefined, { cause: error });
  }
  return connection === undefined ? undefined : { release: () => connection.close() };
}

/**
 * Takes the state file's lock for a relay's life. A relay already answering on the control socket
 * is refused at once; otherwise waits up to STATE_LOCK_WAIT_MS for a change under way (or a relay
 * still starting) to let go.
 */
export async function lockRelayState(stateFile: string): Promise<{ release(): void }> {
  const deadline = Date.now() + STATE_LOCK_WAIT_MS;
  for (;;) {
    const lock = tryLockRelayState(stateFile);
    if (lock !== undefined) return lock;
    const running = await queryControlSocket(controlSocketPathOfRelay(stateFile), undefined, { op: 'status' }).catch(() => undefined);
    if (running !== undefined || Date.now() >= deadline) throw new CommandFailedError(`another relay runs on ${stateFile}; stop it first`);
    await sleep(STATE_LOCK_RETRY_MS);
  }
}

type Change = { op: 'admit' | 'revoke'; deviceId: string } | { op: 'token' | 'rotate-token' };

/** Applies a change to the running relay, or to its state file when none runs. Returns the answer and whether a relay took it. */
async function change(stateFile: string, request: Change): Promise<{ answer: Record<string, unknown>; running: boolean }> {
  // Checked here, so a bad id is the same usage error whether a relay runs or not.
  if ('deviceId' in request && !isPeerId(request.deviceId)) throw new UsageError(`${JSON.stringify(request.deviceId)} is not a device id`);
  // A relay that holds the lock but does not answer yet is starting: ask again until it does, or
  // until the lock is free (another change under way ends in milliseconds).
  const deadline = Date.now() + STATE_LOCK_WAIT_MS;
  for (;;) {
    const live = await queryControlSocket(controlSocketPathOfRelay(stateFile), undefined, request);
    if (live !== undefined) return { answer: live as Record<string, unknown>, running: true };
    if (!existsSync(stateFile)) throw new CommandFailedError(`no relay state file at ${stateFile}: start the relay once with \`ahenk relay --state ${stateFile}\``);
    const lock = tryLockRelayState(stateFile);
    if (lock !== undefined) {
      try {
        return await changeStateFile(stateFile, request);
      } finally {
        lock.release();
      }
    }
    if (Date.now() >= deadline) {
      throw new CommandFailedError(`the relay state file ${stateFile} is locked and no relay answers on ${controlSocketPathOfRelay(stateFile)}: is a relay stuck starting on it? Try again once it runs`);
    }
    await sleep(STATE_LOCK_RETRY_MS);
  }
}

/** The change made in the state file itself, under its lock (no relay runs on it). */
async function changeStateFile(stateFile: string, request: Change): Promise<{ answer: Record<string, unknown>; running: boolean }> {
  const { state } = await loadOrCreateState(stateFile);
  const admission = new Admission(state, { stateFile, log: () => {} });
  try {
    if (request.op === 'admit') admission.admit(request.deviceId);
    if (request.op === 'revoke') admission.revoke(request.deviceId);
    if (request.op === 'rotate-token') admission.rotateJoinToken();
  } catch (error) {
    if (error instanceof NodeConfigError) throw new UsageError(error.message);
    throw error;
  }
  return { answer: request.op === 'token' || request.op === 'rotate-token' ? { token: admission.joinToken } : { admitted: admission.size }, running: false };
}

const tokenCommand: CommandSpec = {
  name: 'token',
  summary: "print the relay's join token (--rotate: replace it; the old one admits nobody after)",
  options: [STATE_OPTION, { flags: '--rotate', description: 'make a new token; devices already admitted stay admitted' }, JSON_OPTION],
  run: async (context) => {
    const { answer, running } = await change(relayStateFile(context), { op: flag(context, 'rotate') ? 'rotate-token' : 'token' });
    if (flag(context, 'json')) return writeJson(context.io.stdout, { ...answer, running });
    writeLine(context.io.stdout, String(answer['token']));
  },
};

function admissionCommand(op: 'admit' | 'revoke', summary: string): CommandSpec {
  return {
    name: op,
    summary,
    args: [{ name: '<deviceId>', description: 'the device id, as `ahenk status` prints it' }],
    options: [STATE_OPTION, JSON_OPTION],
    run: async (context) => {
      const deviceId = context.args[0] ?? '';
      const { answer, running } = await change(relayStateFile(context), { op, deviceId });
      if (flag(context, 'json')) return writeJson(context.io.stdout, { deviceId, ...answer, running });
      const done = op === 'admit' ? 'admitted' : 'revoked';
      writeLine(context.io.stdout, `${done} ${deviceId} ${running ? 'on the running relay' : 'in the state file (no relay is running on it)'}; ${String(answer['admitted'])} devices admitted`);
    },
  };
}

const addCommand: CommandSpec = {
  name: 'add',
  summary: "join a relay from this device with the relay's join token",
  description:
    'Presents the join token to the relay once; the relay then admits this device (its device id, proved by its key). ' +
    'Give the token with --token or $AHENK_RELAY_TOKEN (keeps it out of the shell history). Then start with `ahenk start --relay <relay>`.',
  args: [{ name: '<relay>', description: 'the relay address ending in /p2p/<relay id>, as `ahenk relay` prints it' }],
  options: [DB_OPTION, { flags: '--token <token>', description: "the relay's join token (default: $AHENK_RELAY_TOKEN)" }, JSON_OPTION],
  run: (context) =>
    withDatabase(context, async (db) => {
      const relay = context.args[0] ?? '';
      const token = stringOption(context, 'token') ?? context.io.env['AHENK_RELAY_TOKEN'];
      if (token === undefined) throw new UsageError('give the relay\'s join token with --token or $AHENK_RELAY_TOKEN');
      try {
        const joined = await joinRelay(db, { relay, token, ...(context.io.signal ? { signal: context.io.signal } : {}) });
        if (flag(context, 'json')) return writeJson(context.io.stdout, joined);
        writeLine(context.io.stdout, `the relay ${joined.relayId} admitted this device (${joined.deviceId}); start with: ahenk start --relay ${relay}`);
      } catch (error) {
        if (error instanceof NodeConfigError) throw new UsageError(error.message);
        if (error instanceof RelayAdmissionError) throw new CommandFailedError(error.message, undefined, { cause: error });
        throw error;
      }
    }),
};

export const relaySubcommands: readonly CommandSpec[] = [
  tokenCommand,
  admissionCommand('admit', 'admit a device on the relay (running or not) by its device id'),
  admissionCommand('revoke', 'stop serving a device: its reservation and circuits close at once on a running relay'),
  addCommand,
];
