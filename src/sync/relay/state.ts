/**
 * The relay's state file: its private key (a stable PeerId across restarts) and the devices its
 * operator admitted. JSON, written atomically (temp file + rename) with mode 0600, since the key
 * is a secret. The relay keeps no user data: only device ids and when they were admitted.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { base64, fromBase64 } from '../../sqlite/values.ts';
import { NodeConfigError } from '../node/errors.ts';
import { MAX_ADMITTED_PEERS, MAX_STATE_FILE_BYTES } from './constants.ts';

const STATE_VERSION = 1;

export interface AdmittedPeer {
  peerId: string;
  /** Milliseconds since the Unix epoch. */
  admittedAt: number;
}

export interface RelayState {
  privateKey: PrivateKey;
  admitted: AdmittedPeer[];
}

/** Reads the state file, or makes a new key and writes the file when there is none. */
export async function loadOrCreateState(path: string): Promise<{ state: RelayState; created: boolean }> {
  let text: string;
  try {
    if (statSync(path).size > MAX_STATE_FILE_BYTES) throw new NodeConfigError(`relay state file ${path} is larger than ${MAX_STATE_FILE_BYTES} bytes`);
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    const state: RelayState = { privateKey: await generateKeyPair('Ed25519'), admitted: [] };
    saveState(path, state);
    return { state, created: true };
  }
  // An older file may have been made readable by others: the key is a secret, so narrow it.
  if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
  return { state: parseState(path, text), created: false };
}

export function saveState(path: string, state: RelayState): void {
  const json = JSON.stringify(
    {
      version: STATE_VERSION,
      privateKey: base64(privateKeyToProtobuf(state.privateKey)),
      admitted: state.admitted,
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

function parseState(path: string, text: string): RelayState {
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
  if (record['version'] !== STATE_VERSION) return fail(`unknown version ${String(record['version'])}`);
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
  return { privateKey, admitted };
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
