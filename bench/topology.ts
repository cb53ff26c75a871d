/**
 * Many sync nodes in one process on 127.0.0.1, in a seeded random connected topology (a random
 * spanning tree plus a few extra edges): each node dials only its neighbours, no mDNS. Every node
 * inserts, updates and deletes rows of a shared pool of UUIDv4 keys while all of them sync, some
 * rows written by several nodes in the same tick. The run ends when every node's table and export
 * are identical. Shared by the bench (`npm run bench -- topology`) and test/sync/ten-nodes.test.ts.
 */
import { isDeepStrictEqual } from 'node:util';
import { authorizeDevice } from '../src/auth/devices.ts';
import { registerUser } from '../src/auth/accounts.ts';
import { getDeviceId } from '../src/database/identity.ts';
import { getOplogEntriesSince } from '../src/index.ts';
import type { SqliteConnection } from '../src/sqlite/index.ts';
import { createSyncNode, type SyncNode } from '../src/sync/node/index.ts';
import { seededRandom, uuidv4Generator } from './data.ts';
import type { SyncedDatabase } from './databases.ts';
import { SYNCED_TABLE } from './schema.ts';

export interface TopologyOptions {
  nodes: number;
  /** Edges added to the spanning tree. */
  extraEdges: number;
  /** Write rounds; in each, every node writes once, and a few nodes write one hot row at once. */
  rounds: number;
  /** Keys all nodes write to. */
  keys: number;
  seed: number;
  /** Opens a fresh database holding the bench `items` table; the caller closes and removes it. */
  open: (name: string) => SyncedDatabase;
  /** Gives up waiting for convergence after this long. */
  timeoutMs: number;
  log?: (line: string) => void;
}

export interface TopologyResult {
  edges: [number, number][];
  /** Writes made on all nodes together. */
  writes: number;
  /** First dial to the last write. */
  writeMs: number;
  /** Last write to every table and export identical. */
  convergeMs: number;
  /** Session frame bytes all nodes received (sync:progress), and the entries those frames carried. */
  frameBytes: number;
  entries: number;
  /** Rows alive at the end, and entries one node's full export holds. */
  rows: number;
  exportEntries: number;
}

/** libp2p refuses more than 5 inbound connections a second from one host; all nodes share 127.0.0.1. */
const DIAL_GAP_MS = 250;

/** A spanning tree (each node links to one before it, at random) plus extra distinct edges. */
export function randomTopology(n: number, extra: number, random: () => number): [number, number][] {
  const edges: [number, number][] = [];
  const has = new Set<string>();
  const add = (a: number, b: number) => {
    const key = a < b ? `${a}-${b}` : `${b}-${a}`;
    if (a === b || has.has(key)) return false;
    has.add(key);
    edges.push([a, b]);
    return true;
  };
  for (let i = 1; i < n; i++) add(i, Math.floor(random() * i));
  const possible = (n * (n - 1)) / 2;
  for (let added = 0; added < extra && edges.length < possible; ) if (add(Math.floor(random() * n), Math.floor(random() * n))) added++;
  return edges;
}

export async function runTopology(options: TopologyOptions): Promise<TopologyResult> {
  const random = seededRandom(options.seed);
  const nextKey = uuidv4Generator(random);
  const keys = Array.from({ length: options.keys }, () => nextKey());
  const edges = randomTopology(options.nodes, options.extraEdges, random);
  const dbs = Array.from({ length: options.nodes }, (_, i) => options.open(`node-${i}`));
  const ids = dbs.map((db) => getDeviceId(db));
  // One account's devices: every node has the others on its device list, as pairing leaves it.
  for (const [i, db] of dbs.entries()) {
    const user = await registerUser(db, `owner-${i}`, `owner-${i}@example.test`, 'correct horse battery');
    for (const peerId of ids) authorizeDevice(db, { userId: user.id, peerId, deviceType: peerId === ids[i] ? 'this' : 'peer' });
  }
  const nodes: SyncNode[] = [];
  try {
    let frameBytes = 0;
    let entries = 0;
    for (const db of dbs) {
      const node = await createSyncNode(db, { listenAddresses: ['/ip4/127.0.0.1/tcp/0'] });
      nodes.push(node);
      // Progress figures count from zero in each session: add what grew since the last event.
      const last = new Map<string, { bytes: number; entries: number }>();
      node.on('sync:progress', (p) => {
        if (p.direction !== 'receive') return;
        const before = last.get(p.peerId) ?? { bytes: 0, entries: 0 };
        const restarted = p.bytes < before.bytes;
        frameBytes += restarted ? p.bytes : p.bytes - before.bytes;
        entries += restarted ? p.entries : p.entries - before.entries;
        last.set(p.peerId, { bytes: p.bytes, entries: p.entries });
      });
    }
    const started = performance.now();
    const raws = dbs.map((db) => db.$connection);
    let writes = 0;
    const write = (raw: SqliteConnection, key: string, round: number) => {
      writes++;
      const exists = raw.prepare(`SELECT 1 FROM "${SYNCED_TABLE}" WHERE id = ?`).value(key) !== undefined;
      const roll = random();
      if (!exists) raw.prepare(`INSERT INTO "${SYNCED_TABLE}" (id, name, qty, rank, price) VALUES (?, ?, ?, ?, ?)`).run(key, `r${round}`, round, Math.floor(random() * 100), random());
      else if (roll < 0.15) raw.prepare(`DELETE FROM "${SYNCED_TABLE}" WHERE id = ?`).run(key);
      else if (roll < 0.6) raw.prepare(`UPDATE "${SYNCED_TABLE}" SET qty = ? WHERE id = ?`).run(round, key);
      else raw.prepare(`UPDATE "${SYNCED_TABLE}" SET name = ?, price = ? WHERE id = ?`).run(`r${round}`, random(), key);
    };
    // Dial the edges paced, writing meanwhile: the first sessions catch up on writes already made.
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
    const dials = edges.map(([a, b]) => ({ from: nodes[a]!, to: nodes[b]! }));
    let round = 0;
    const writeRound = () => {
      for (const raw of raws) write(raw, pick(keys), round);
      const hot = pick(keys);
      for (let k = 0; k < 3; k++) write(pick(raws), hot, round);
      round++;
    };
    for (const { from, to } of dials) {
      await from.dial(to.getMultiaddrs()[0]!);
      writeRound();
      await delay(DIAL_GAP_MS);
    }
    while (round < options.rounds) {
      writeRound();
      await delay(5);
    }
    const lastWrite = performance.now();
    options.log?.(`topology: ${edges.length} edges, ${writes} writes in ${Math.round(lastWrite - started)} ms; waiting to converge`);
    const deadline = lastWrite + options.timeoutMs;
    for (;;) {
      if (converged(raws)) break;
      if (performance.now() > deadline) throw new Error(`the ${options.nodes} nodes did not converge within ${options.timeoutMs} ms of the last write: ${divergence(raws)}`);
      await delay(20);
    }
    const convergeMs = performance.now() - lastWrite;
    return {
      edges,
      writes,
      writeMs: lastWrite - started,
      convergeMs,
      frameBytes,
      entries,
      rows: tableOf(raws[0]!).length,
      exportEntries: getOplogEntriesSince(dbs[0]!).entries.length,
    };
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function tableOf(raw: SqliteConnection): unknown[] {
  return raw.prepare(`SELECT id, name, qty, rank, price, typeof(price) AS t FROM "${SYNCED_TABLE}" ORDER BY id`).all().map((row) => ({ ...row }));
}

/**
 * A full export with each row's cells flattened and sorted: two devices hold the same state when
 * every cell has the same value, stamp and device, whatever the grouping or order of their log.
 */
export function canonicalExport(raw: SqliteConnection): string[] {
  const out: string[] = [];
  for (const entry of getOplogEntriesSince(raw).entries) {
    const cells: string[] = [];
    for (const group of entry.groups) {
      const values = Object.entries(group.values);
      if (values.length === 0) cells.push(`-@${group.hlc}/${group.device}`);
      for (const [column, value] of values) cells.push(`${column}=${cellText(value)}@${group.hlc}/${group.device}`);
    }
    out.push(`${entry.table}/${entry.pk}/${entry.cl}: ${cells.sort().join(' ')}`);
  }
  return out.sort();
}

function cellText(value: unknown): string {
  if (typeof value === 'bigint') return `${value}n`;
  if (value instanceof Uint8Array) return `x'${Buffer.from(value).toString('hex')}'`;
  return JSON.stringify(value);
}

/** Which nodes differ from node 0, and the first export line that tells one of them apart. */
function divergence(raws: readonly SqliteConnection[]): string {
  const table = tableOf(raws[0]!);
  const exported = canonicalExport(raws[0]!);
  const parts: string[] = [];
  for (const [i, raw] of raws.entries()) {
    if (i === 0) continue;
    const theirs = canonicalExport(raw);
    const tableDiffers = !isDeepStrictEqual(tableOf(raw), table);
    if (!tableDiffers && isDeepStrictEqual(theirs, exported)) continue;
    const onlyOurs = exported.find((line) => !theirs.includes(line));
    const onlyTheirs = theirs.find((line) => !exported.includes(line));
    parts.push(`node ${i} (table ${tableDiffers ? 'differs' : 'same'}): node 0 has ${onlyOurs ?? '-'}; node ${i} has ${onlyTheirs ?? '-'}`);
  }
  return parts.join('; ');
}

function converged(raws: readonly SqliteConnection[]): boolean {
  const first = tableOf(raws[0]!);
  if (!raws.every((raw) => isDeepStrictEqual(tableOf(raw), first))) return false;
  const exported = canonicalExport(raws[0]!);
  return raws.every((raw, i) => i === 0 || isDeepStrictEqual(canonicalExport(raw), exported));
}
