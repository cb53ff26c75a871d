/**
 * The relay's state file: its private key (a stable PeerId across restarts), its join token, the
 * devices its operator admitted and those it revoked. JSON, written atomically (temp file + rename) with mode 0600, since the key
 * and the token are secrets. The relay keeps no user data: only device ids and when they were
 * admitted. Version 1 (before join tokens) is read and given a token.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { base64, fromBase64 } from '../../sqlite/values.ts';
import { NodeConfigError } from '../node/errors.ts';
import { MAX_ADMITTED_PEERS, MAX_REVOKED_PEERS, MAX_STATE_FILE_BYTES } from './constants.ts';
import { generateJoinToken, isJoinTokenShaped } from './token.ts';

const STATE_VERSION = 2;

export interface AdmittedPeer {
  peerId: string;
  /** Milliseconds since the Unix epoch. */
  admittedAt: number;
}

export interface RelayState {
  privateKey: PrivateKey;
  /** The secret a device presents once to be admitted (`/ahenk/relay-admit`). */
  joinToken: string;
  admitted: AdmittedPeer[];
  /** Device ids revoked by the operator: the join token does not admit them again. */
  revoked: string[];
}

export interface LoadedState {
  state: RelayState;
  /** The file was made now (a new key). */
  created: boolean;
  /** The join token was made now (a new file, or one from before tokens): the only time it is shown unasked. */
  tokenCreated: boolean;
}

/** Reads the state file, or makes a new key and token and writes the file when there is none. */
export async function loadOrCreateState(path: string): Promise<LoadedState> {
  let text: string;
  try {
    if (statSync(path).size > MAX_STATE_FILE_BYTES) throw new NodeConfigError(`relay state file ${path} is larger than ${MAX_STATE_FILE_BYTES} bytes`);
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    const state: RelayState = { privateKey: await generateKeyPair('Ed25519'), joinToken: generateJoinToken(), admitted: [], revoked: [] };
    saveState(path, state);
    return { state, created: true, tokenCreated: true };
  }
  // An older file may have been made readable by others: the key is a secret, so narrow it.
  if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
  const { state, tokenCreated } = parseState(path, text);
  if (tokenCreated) saveState(path, state);
  return { state, created: false, tokenCreated };
}

export function saveState(path: string, state: RelayState): void {
  const json = JSON.stringify(
    {
      version: STATE_VERSION,
      privateKey: base64(privateKeyToProtobuf(state.privateKey)),
      joinToken: state.joinToken,
      admitted: state.admitted,
      revoked: state.revoked,
    },
    null,
    2,
  );
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(temp, 'wx', 0o600);
  try {
    writeSync(fd, `${json}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
}

function parseState(path: string, text: string): { state: RelayState; tokenCreated: boolean } {
  const fail = (why: string): never => {
    throw new NodeConfigError(`relay state file ${path}: ${why}`);
  };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return fail(`not JSON (${(error as Error).message})`);
  }
  if (typeof value !== 'object' || value === null) return fail('not an object');
  const record = value as Record<string, unknown>;
  const version = record['version'];
  if (version !== 1 && version !== STATE_VERSION) return fail(`unknown version ${String(version)}`);
  const keyText = record['privateKey'];
  if (typeof keyText !== 'string') return fail('privateKey is missing');
  let privateKey: PrivateKey;
  try {
    privateKey = privateKeyFromProtobuf(fromBase64(keyText));
  } catch (error) {
    return fail(`privateKey is not a libp2p key (${(error as Error).message})`);
  }
  const list = record['admitted'];
  if (!Array.isArray(list) || list.length > MAX_ADMITTED_PEERS) return fail(`admitted must be a list of at most ${MAX_ADMITTED_PEERS} peers`);
  const admitted = list.map((item: unknown): AdmittedPeer => {
    const entry = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
    const peerId = entry['peerId'];
    const admittedAt = entry['admittedAt'];
    if (typeof peerId !== 'string' || !isPeerId(peerId)) return fail(`admitted: ${JSON.stringify(peerId)} is not a peer id`);
    if (typeof admittedAt !== 'number' || !Number.isFinite(admittedAt)) return fail(`admitted: ${peerId} has no admittedAt time`);
    return { peerId, admittedAt };
  });
  if (version === 1) return { state: { privateKey, joinToken: generateJoinToken(), admitted, revoked: [] }, tokenCreated: true };
  const joinToken = record['joinToken'];
  if (typeof joinToken !== 'string' || !isJoinTokenShaped(joinToken)) return fail('joinToken is missing or malformed');
  const revoked = record['revoked'];
  if (!Array.isArray(revoked) || revoked.length > MAX_REVOKED_PEERS) return fail(`revoked must be a list of at most ${MAX_REVOKED_PEERS} peers`);
  for (const peerId of revoked) if (typeof peerId !== 'string' || !isPeerId(peerId)) return fail(`revoked: ${JSON.stringify(peerId)} is not a peer id`);
  return { state: { privateKey, joinToken, admitted, revoked: revoked as string[] }, tokenCreated: false };
}

export function isPeerId(text: string): boolean {
  if (text.length === 0 || text.length > 128) return false;
  try {
    peerIdFromString(text);
    return true;
  } catch {
    return false;
  }
}
