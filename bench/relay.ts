/**
 * Relay benchmark in the NAT namespace topology of test/net/nat.ts (needs root, iproute2 and nft;
 * not part of `npm run bench`). Run: `npx tsx bench/relay.ts [rows]` (default 100000).
 *
 * - initial sync of N rows (random UUIDv4 keys): direct (both devices on the public segment) and
 *   relayed (each behind its NAT, through an Ahenk relay), in rows/s and as a ratio to direct;
 *   hole-punched when DCUtR upgrades (it does not between these NATs: js-libp2p on Node punches no
 *   TCP holes), reported as such;
 * - time from both devices starting to their first completed sync through the relay;
 * - the relay's CPU time and memory while it carries one active circuit.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { authorizeDevice, getDeviceId, initializeDatabase, registerUser } from '../src/index.ts';
import { openConnection } from '../src/sqlite/index.ts';
import { CREATE_TABLES, schema } from '../test/helpers/schema.ts';
import { createNatTopology, natUnavailableReason, type NatNode, type NatTopology } from '../test/net/nat.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DEVICE = fileURLToPath(new URL('../test/net/nat-device-script.ts', import.meta.url));
const RELAY = fileURLToPath(new URL('../test/net/relay-script.ts', import.meta.url));
const ROWS = Number(process.argv[2] ?? 100_000);

interface Event {
  time?: number;
  event: string;
  [field: string]: unknown;
}
interface Child {
  process: ChildProcessWithoutNullStreams;
  events: Event[];
  started: number;
}

const reason = natUnavailableReason();
if (reason !== undefined) {
  console.log(`bench/relay.ts needs the NAT topology: ${reason}`);
  process.exit(0);
}

const dir = mkdtempSync(join(tmpdir(), 'ahenk-bench-relay-'));
const topology: NatTopology = createNatTopology();
const children: Child[] = [];
const cleanup = (): void => {
  for (const child of children) if (child.process.exitCode === null) child.process.kill('SIGKILL');
  topology.remove();
  rmSync(dir, { recursive: true, force: true });
};
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));

function spawnScript(node: NatNode, script: string, options: Record<string, unknown>): Child {
  const child = topology.spawn(node, process.execPath, ['--import', 'tsx', script, JSON.stringify(options)], ROOT);
  const entry: Child = { process: child, events: [], started: Date.now() };
  createInterface({ input: child.stdout }).on('line', (line) => {
    try {
      entry.events.push(JSON.parse(line) as Event);
    } catch {
      // not an event line
    }
  });
  child.stderr.resume();
  children.push(entry);
  return entry;
}

async function until<T>(find: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function stop(child: Child): Promise<void> {
  if (child.process.exitCode !== null) return;
  const exited = new Promise((resolve) => child.process.once('exit', resolve));
  child.process.stdin.write('stop\n');
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
  if (child.process.exitCode === null) child.process.kill('SIGKILL');
}

/** Two databases of one user, the first holding `rows` rows with random UUIDv4 keys. */
async function devices(name: string, rows: number): Promise<{ paths: [string, string]; ids: [string, string] }> {
  const paths: [string, string] = [join(dir, `${name}-1.db`), join(dir, `${name}-2.db`)];
  const dbs = paths.map((path) => {
    const pre = openConnection(path);
    pre.exec(CREATE_TABLES);
    pre.close();
    return initializeDatabase(path, { schema });
  });
  const ids = dbs.map((db) => getDeviceId(db)) as [string, string];
  for (const db of dbs) {
    const user = await registerUser(db, 'bench', 'bench@example.test', 'a long pass phrase');
    for (const [i, peerId] of ids.entries()) authorizeDevice(db, { userId: user.id, peerId, deviceType: `d${i}` });
  }
  const insert = dbs[0]!.$connection.prepare('INSERT INTO todos (id, title, done, score) VALUES (?, ?, ?, ?)');
  dbs[0]!.$connection.transaction(() => {
    for (let i = 0; i < rows; i++) insert.run(randomUUID(), `row ${i} of the bench`, i % 2, i / 7);
  });
  for (const db of dbs) db.$connection.close();
  return { paths, ids };
}

const completeOf = (child: Child, peerId: string): Event | undefined => child.events.find((e) => e.event === 'sync:complete' && e['peerId'] === peerId);

type Pair = { paths: [string, string]; ids: [string, string] };

async function initialSync(kind: 'direct' | 'relayed', pair: Pair, relay: Child | undefined, relayAddress: string): Promise<{ ms: number; paths: unknown[]; relayStats?: { cpuMs: number; rssMiB: number; rssBeforeMiB: number; bytes: number } }> {
  const { paths, ids } = pair;
  let a: Child;
  let b: Child;
  if (kind === 'direct') {
    a = spawnScript('pub', DEVICE, { dbPath: paths[0], listen: ['/ip4/198.51.100.1/tcp/5001'] });
    await until(() => a.events.find((e) => e.event === 'started'), 30_000, 'device 1');
    b = spawnScript('pub', DEVICE, { dbPath: paths[1], listen: ['/ip4/198.51.100.1/tcp/5002'], peers: [`/ip4/198.51.100.1/tcp/5001/p2p/${ids[0]}`] });
  } else {
    a = spawnScript('dev1', DEVICE, { dbPath: paths[0], relay: relayAddress });
    b = spawnScript('dev2', DEVICE, { dbPath: paths[1], relay: relayAddress });
  }
  const before = relay === undefined ? undefined : await relayStats(relay);
  const complete = await until(() => completeOf(b, ids[0]), 900_000, `${kind} sync`);
  const after = relay === undefined ? undefined : await relayStats(relay);
  const seen = b.events.filter((e) => e.event === 'peer:path' && e['peerId'] === ids[0]).map((e) => e['path']);
  await Promise.all([stop(a), stop(b)]);
  const result: { ms: number; paths: unknown[]; relayStats?: { cpuMs: number; rssMiB: number; rssBeforeMiB: number; bytes: number } } = { ms: Number(complete['durationMs']), paths: seen };
  if (before !== undefined && after !== undefined) {
    result.relayStats = {
      cpuMs: (after.cpu.user + after.cpu.system - before.cpu.user - before.cpu.system) / 1000,
      rssMiB: after.memory.rss / 2 ** 20,
      rssBeforeMiB: before.memory.rss / 2 ** 20,
      bytes: after.bytesRelayed - before.bytesRelayed,
    };
  }
  return result;
}

interface RelayStatsLine {
  cpu: { user: number; system: number };
  memory: { rss: number };
  bytesRelayed: number;
  circuits: number;
}

async function relayStats(relay: Child): Promise<RelayStatsLine> {
  const seen = relay.events.length;
  relay.process.stdin.write('stats\n');
  return (await until(() => relay.events.slice(seen).find((e) => e.event === 'stats'), 5_000, 'relay stats')) as unknown as RelayStatsLine;
}

async function firstSyncThroughRelay(pair: Pair, relayAddress: string): Promise<{ fromSpawnMs: number; fromStartedMs: number }> {
  const { paths, ids } = pair;
  const a = spawnScript('dev1', DEVICE, { dbPath: paths[0], relay: relayAddress });
  const b = spawnScript('dev2', DEVICE, { dbPath: paths[1], relay: relayAddress });
  const done = await until(() => {
    const x = completeOf(a, ids[1]);
    const y = completeOf(b, ids[0]);
    return x !== undefined && y !== undefined ? Math.max(x.time!, y.time!) : undefined;
  }, 120_000, 'the first sync');
  const started = Math.max(...[a, b].map((c) => c.events.find((e) => e.event === 'started')!.time!));
  await Promise.all([stop(a), stop(b)]);
  return { fromSpawnMs: done - Math.min(a.started, b.started), fromStartedMs: done - started };
}

console.log(`relay bench: ${ROWS} rows, random UUIDv4 keys, NAT namespaces (nat1 EIM, nat2 symmetric)`);
const directPair = await devices('direct', ROWS);
const relayedPair = await devices('relayed', ROWS);
const firstPair = await devices('first', 10);
const relay = spawnScript('pub', RELAY, { stateFile: join(dir, 'relay.json'), listen: ['/ip4/198.51.100.1/tcp/4001'], admit: [...relayedPair.ids, ...firstPair.ids] });
const relayAddress = ((await until(() => relay.events.find((e) => e.event === 'started'), 30_000, 'the relay'))['addresses'] as string[])[0]!;

const first = await firstSyncThroughRelay(firstPair, relayAddress);
const direct = await initialSync('direct', directPair, undefined, relayAddress);
const relayed = await initialSync('relayed', relayedPair, relay, relayAddress);
await stop(relay);

const rate = (ms: number): number => Math.round(ROWS / (ms / 1000));
const lines = [
  '| path | initial sync of ' + ROWS + ' rows | rows/s | ratio to direct |',
  '| --- | --- | --- | --- |',
  `| direct (public segment) | ${Math.round(direct.ms)} ms | ${rate(direct.ms)} | 1.00 |`,
  `| relayed (EIM NAT <-> symmetric NAT, Ahenk relay) | ${Math.round(relayed.ms)} ms | ${rate(relayed.ms)} | ${(rate(relayed.ms) / rate(direct.ms)).toFixed(2)} |`,
  `| hole-punched | n/a: paths seen ${JSON.stringify(relayed.paths)}; js-libp2p on Node punches no TCP holes | | |`,
];
console.log(lines.join('\n'));
console.log(`first completed sync through the relay: ${first.fromStartedMs} ms after both nodes started (${first.fromSpawnMs} ms after both processes were spawned, tsx start-up included)`);
if (relayed.relayStats !== undefined) {
  const r = relayed.relayStats;
  console.log(`relay, one active circuit for the relayed sync: CPU ${Math.round(r.cpuMs)} ms for ${(r.bytes / 2 ** 20).toFixed(1)} MiB relayed (${(r.cpuMs / (r.bytes / 2 ** 20)).toFixed(1)} ms/MiB), RSS ${r.rssBeforeMiB.toFixed(1)} -> ${r.rssMiB.toFixed(1)} MiB`);
}
cleanup();
