/**
 * A child process of the sync bench, driven over the IPC channel (requests `{ id, cmd, args }`,
 * replies `{ id, result }` or `{ id, error }`). Two roles:
 * - `node`: opens a database and runs a sync node on 127.0.0.1 (the sender or the receiver);
 * - `merge`: the in-process reference, exporting a source once and timing merge, codec and export.
 * Timestamps that two processes compare are CLOCK_MONOTONIC (process.hrtime), which on Linux is
 * one clock for the whole machine. The child exits when the bench disconnects, however it ends.
 */
import { authorizeDevice, createSyncNode, getOplogEntriesSince, merge, type OplogEntry, type SyncCompleteEvent, type SyncNode } from '../src/index.ts';
// Not public API: the reference timings split the session's work into its parts.
import { encodeBatchFrames, decodeMessage } from '../src/sync/protocol/messages.ts';
import { framedSize } from '../src/sync/protocol/framing.ts';
import { NOTES_TABLE, openNotes, type NotesDatabase } from './sync-data.ts';
import { collectGarbage } from './util.ts';

export type PeerRole = { role: 'node'; dbPath: string } | { role: 'merge'; srcPath: string; dstPaths: [string, string]; batchSize: number };

/** What the `merge` role measures, in milliseconds unless named otherwise. */
export interface MergeReference {
  entries: number;
  exportMs: number;
  mergeMs: number;
  encodeMs: number;
  decodeMs: number;
  batchedMergeMs: number;
  /** Bytes of the batch frames with their length prefixes, as the session would send them. */
  frameBytes: number;
  frames: number;
}

export interface InitialSyncResult {
  /** From the dial to the progress event that reported the last row applied (committed). */
  ms: number;
  /** How long node.dial took (TCP, Noise, Yamux, identify). */
  dialMs: number;
  /** From the dial to sync:complete (both directions caught up). */
  completeMs: number;
  complete: SyncCompleteEvent;
  /** CPU time of this process from the dial to the last row. */
  cpuMs: number;
  /** From the dial to the first progress event of a received batch (the first group committed). */
  firstMs: number;
}

const role = JSON.parse(process.argv[2] ?? '{}') as PeerRole;
const hrtimeUs = (): number => Number(process.hrtime.bigint() / 1000n);
const cpuMs = (): number => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};
const send = (message: unknown): void => void process.send?.(message);
process.on('disconnect', () => process.exit(0));

type Deferred<T> = { promise: Promise<T>; resolve: (value: T) => void };
function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

type Handler = (args: Record<string, unknown>) => unknown;
function serve(handlers: Record<string, Handler>): void {
  process.on('message', (message: { id: number; cmd: string; args: Record<string, unknown> }) => {
    const handler = handlers[message.cmd];
    Promise.resolve()
      .then(() => {
        if (handler === undefined) throw new Error(`unknown command ${message.cmd}`);
        return handler(message.args);
      })
      .then(
        (result: unknown) => send({ id: message.id, result }),
        (error: unknown) => send({ id: message.id, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
      );
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Largest values process.memoryUsage() showed, sampled every 50 ms, to tell the V8 heap from buffers and SQLite. */
const memoryPeaks = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
function sampleMemory(): void {
  const now = process.memoryUsage();
  for (const key of Object.keys(memoryPeaks) as (keyof typeof memoryPeaks)[]) memoryPeaks[key] = Math.max(memoryPeaks[key], now[key]);
}

async function runNode(dbPath: string): Promise<void> {
  setInterval(sampleMemory, 50).unref();
  const db = openNotes(dbPath);
  const raw = db.$connection;
  // reconnect off: a receiver that leaves after its run is not dialled again by the sender.
  const node = await createSyncNode(db, { listenAddresses: ['/ip4/127.0.0.1/tcp/0'], reconnect: false });
  const errors: string[] = [];
  node.on('error', (e) => errors.push(e.error.message));
  // Integers as numbers: compared with the qty the bench wrote.
  const selectQty = raw.prepare(`SELECT qty FROM "${NOTES_TABLE}" WHERE id = ?`, { integers: 'number' });
  const update = raw.prepare(`UPDATE "${NOTES_TABLE}" SET qty = ? WHERE id = ?`);
  let received = { entries: 0, bytes: 0 };
  let armed: { key: string; qty: number; seenUs?: number; seen: Deferred<number> } | undefined;
  const check = (atUs: number): void => {
    if (armed === undefined || armed.seenUs !== undefined) return;
    if (selectQty.value(armed.key) === armed.qty) {
      armed.seenUs = atUs;
      armed.seen.resolve(atUs);
    }
  };
  // Visibility: the progress event comes right after the batch's transaction committed; the
  // row is then read back on this connection to be sure it is the awaited write.
  node.on('sync:progress', (e) => {
    if (e.direction !== 'receive') return;
    const at = hrtimeUs();
    received = { entries: e.entries, bytes: e.bytes };
    check(at);
  });

  serve({
    authorize: (args) => void authorizeDevice(db, { userId: args['userId'] as string, peerId: args['peerId'] as string, deviceType: 'receiver' }),
    sync: (args) => initialSync(node, db, args['address'] as string, args['rows'] as number),
    received: () => received,
    waitEntries: async (args) => {
      const target = args['atLeast'] as number;
      const deadline = Date.now() + (args['timeoutMs'] as number);
      while (received.entries < target) {
        if (Date.now() > deadline) throw new Error(`received ${received.entries} entries, expected ${target}`);
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      return received;
    },
    bulkUpdate: (args) => {
      const keys = raw.prepare(`SELECT id FROM "${NOTES_TABLE}" ORDER BY id LIMIT ?`).values(args['count'] as number).map(([id]) => id as string);
      raw.transaction(() => {
        for (const key of keys) update.run(args['qty'] as number, key);
      });
      return keys.length;
    },
    keys: (args) => raw.prepare(`SELECT id FROM "${NOTES_TABLE}" ORDER BY random() LIMIT ?`).values(args['count'] as number).map(([id]) => id as string),
    arm: (args) => {
      armed = { key: args['key'] as string, qty: args['qty'] as number, seen: deferred<number>() };
      check(hrtimeUs());
    },
    awaitSeen: async () => {
      if (armed === undefined) throw new Error('nothing armed');
      return withTimeout(armed.seen.promise, 5_000, `live write ${armed.key}=${armed.qty} on the receiver`);
    },
    write: (args) => {
      const at = hrtimeUs();
      update.run(args['qty'] as number, args['key'] as string);
      return at;
    },
    resetMemoryPeaks: () => {
      for (const key of Object.keys(memoryPeaks) as (keyof typeof memoryPeaks)[]) memoryPeaks[key] = 0;
      sampleMemory();
    },
    stats: () => ({ memoryPeaks, maxRssKiB: process.resourceUsage().maxRSS, rssKiB: Math.round(process.memoryUsage().rss / 1024), cpuMs: cpuMs(), errors }),
    stop: async () => {
      await node.stop();
      raw.close();
      setImmediate(() => process.disconnect());
    },
  });
  send({ ready: { peerId: node.peerId, addresses: node.getMultiaddrs() } });
}

async function initialSync(node: SyncNode, db: NotesDatabase, address: string, rows: number): Promise<InitialSyncResult> {
  const limitMs = Math.max(60_000, rows * 0.2);
  const signal = AbortSignal.timeout(limitMs);
  const allRows = node.once('sync:progress', { filter: (e) => e.direction === 'receive' && e.entries >= rows, signal });
  const complete = node.once('sync:complete', { signal });
  const firstRows = node.once('sync:progress', { filter: (e) => e.direction === 'receive' && e.entries > 0, signal });
  let firstAt = Number.NaN;
  firstRows.then(() => (firstAt = performance.now()), () => undefined);
  allRows.catch(() => undefined);
  complete.catch(() => undefined);
  const cpu0 = cpuMs();
  const t0 = performance.now();
  await node.dial(address);
  const dialMs = performance.now() - t0;
  await allRows;
  const t1 = performance.now();
  const cpu1 = cpuMs();
  const done = await complete;
  const t2 = performance.now();
  const count = Number(db.$connection.prepare(`SELECT count(*) FROM "${NOTES_TABLE}"`).value());
  if (count !== rows) throw new Error(`receiver holds ${count} rows after the sync, expected ${rows}`);
  return { ms: t1 - t0, dialMs, completeMs: t2 - t0, complete: done, cpuMs: cpu1 - cpu0, firstMs: firstAt - t0 };
}

/**
 * The in-process reference: one export of everything, merge into an empty database, then the
 * parts a session adds (codec, and merging in batches as the receiver does).
 */
function runMerge(srcPath: string, dstPaths: [string, string], batchSize: number): MergeReference {
  const src = openNotes(srcPath);
  const whole = openNotes(dstPaths[0]);
  const batched = openNotes(dstPaths[1]);
  try {
    const timed = <T>(fn: () => T): [T, number] => {
      collectGarbage();
      const t = performance.now();
      const value = fn();
      return [value, performance.now() - t];
    };
    const [exported, exportMs] = timed(() => getOplogEntriesSince(src).entries);
    // Merge first, as the receiver's merge is the first thing its fresh process does with entries.
    const [, mergeMs] = timed(() => merge(whole, exported));
    const windows: OplogEntry[][] = [];
    for (let i = 0; i < exported.length; i += batchSize) windows.push(exported.slice(i, i + batchSize));
    const [frames, encodeMs] = timed(() => {
      const out: Uint8Array[] = [];
      for (const [i, entries] of windows.entries()) {
        for (const f of encodeBatchFrames(entries, { firstBatch: out.length + 1, cursor: String(i + 1), remaining: 0 })) out.push(f.frame);
      }
      return out;
    });
    const [decoded, decodeMs] = timed(() => frames.map((f) => decodeMessage(f)));
    const [, batchedMergeMs] = timed(() => {
      for (const message of decoded) if (message.type === 'batch') merge(batched, message.entries);
    });
    const rows = (d: NotesDatabase) => Number(d.$connection.prepare(`SELECT count(*) FROM "${NOTES_TABLE}"`).value());
    // The export also holds the source's device list (a synced system table): count the notes only.
    const notes = exported.filter((e) => e.table === NOTES_TABLE).length;
    if (rows(whole) !== notes || rows(batched) !== notes) throw new Error('merge reference: row counts differ from the export');
    const frameBytes = frames.reduce((sum, f) => sum + framedSize(f.byteLength), 0);
    return { entries: exported.length, exportMs, mergeMs, encodeMs, decodeMs, batchedMergeMs, frameBytes, frames: frames.length };
  } finally {
    for (const d of [src, whole, batched]) d.$connection.close();
  }
}

if (role.role === 'node') {
  await runNode(role.dbPath);
} else {
  const result = runMerge(role.srcPath, role.dstPaths, role.batchSize);
  send({ ready: result });
  setImmediate(() => process.disconnect());
}
