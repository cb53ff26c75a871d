/**
 * The sync benchmark (`npm run bench -- sync`): two sync nodes in two processes on 127.0.0.1.
 * - initial sync of AHENK_BENCH_ROWS rows, dial to last row committed on the receiver, against an
 *   in-process merge of the same entries (a fresh process each, as each receiver is), with random
 *   UUIDv4 keys and time-ordered UUIDv7 keys in the same run (a source and a sender per kind);
 * - bytes on the wire per changed cell against the raw size of the values;
 * - write-to-visible latency of live pushes after catch-up;
 * - peak RSS of both processes during AHENK_BENCH_BIG_RUNS (default 3) syncs of AHENK_BENCH_BIG_ROWS
 *   (default 1M) rows, for each kind of key.
 * AHENK_BENCH_LIVE_WRITES (default 200) sets the number of timed live writes of each kind, and
 * AHENK_BENCH_CHILD_FLAGS passes node flags to the children (e.g. '--cpu-prof --cpu-prof-dir=DIR').
 * Every child is killed and every file removed, also on errors, Ctrl-C and SIGTERM.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { KEY_KINDS, type KeyKind } from './data.ts';
import type { SuiteResult } from './report.ts';
import { BenchChild, socketBytes, tcpPort } from './sync-children.ts';
import { createReceiver, createSource, type RawSizes } from './sync-data.ts';
import { measureLive, type LiveResult } from './sync-live.ts';
import type { InitialSyncResult, MergeReference } from './sync-peer.ts';
import { KEY_LABELS, printSyncReport, syncSuiteResult } from './sync-report.ts';
import { envInt } from './util.ts';

export interface SyncConfig {
  rows: number;
  runs: number;
  /** Scratch directory; the caller deletes it. */
  dir: string;
  log: (line: string) => void;
}

type NodeReady = { peerId: string; addresses: string[] };
type Source = RawSizes & { path: string; deviceId: string; userId: string; keys: KeyKind };
export type MemoryPeaks = { rss: number; heapTotal: number; heapUsed: number; external: number; arrayBuffers: number };
type Stats = { memoryPeaks: MemoryPeaks; maxRssKiB: number; rssKiB: number; cpuMs: number; errors: string[] };

/** One initial sync, as seen from both processes. */
export interface SyncSample extends InitialSyncResult {
  senderCpuMs: number;
  /** TCP payload bytes on the sender's socket, both directions (undefined without ss). */
  socket: { sent: number; received: number } | undefined;
  /** KiB; `reset` says whether the peaks cover only the sync (VmHWM reset before the dial). */
  memory: { reset: boolean; senderPeak: number; senderBefore: number; receiverPeak: number; receiverBefore: number } | undefined;
  /** Largest process.memoryUsage() figures (bytes) each side saw during the sync, sampled every 50 ms. */
  peaks: { sender: MemoryPeaks; receiver: MemoryPeaks };
  senderErrors: string[];
}

/** The initial syncs of one kind of key; samples[i] and references[i] come from the same run. */
export interface KeyedSyncs {
  keys: KeyKind;
  source: RawSizes;
  samples: SyncSample[];
  references: MergeReference[];
}

export interface SyncFigures {
  rows: number;
  runs: number;
  /** The same runs, one entry per kind of key (UUIDv4 first). */
  initial: KeyedSyncs[];
  /** Measured against the UUIDv7 sender after its last run. */
  live: LiveResult;
  /** No in-process references: the big syncs are there for memory and the rate at scale. */
  big: { rows: number; syncs: KeyedSyncs[] };
}

const BATCH_SIZE = 1000;
let fileCounter = 0;

export async function runSync(config: SyncConfig): Promise<SuiteResult> {
  const { rows, runs, log } = config;
  const bigRows = envInt('AHENK_BENCH_BIG_ROWS', 1_000_000);
  const bigRuns = envInt('AHENK_BENCH_BIG_RUNS', 3);
  const liveWrites = envInt('AHENK_BENCH_LIVE_WRITES', 200);
  const dir = join(config.dir, 'sync');
  mkdirSync(dir, { recursive: true });
  // index.ts removes the bench directory on exit and Ctrl-C; SIGTERM must reach 'exit' too, so
  // that the children are killed (sync-children.ts) and the files removed.
  const onTerm = () => process.exit(143);
  process.once('SIGTERM', onTerm);
  try {
    const sources: Source[] = [];
    for (const keys of KEY_KINDS) sources.push(await makeSource(dir, rows, 0x5eed, keys, log));
    const initial: KeyedSyncs[] = sources.map((source) => ({ keys: source.keys, source, samples: [], references: [] }));
    const senders = await startSenders(sources, '', log);
    let live: LiveResult | undefined;
    try {
      // The warm-up run (dropped) compiles the senders' export and encode paths and fills their
      // page caches; receivers and merge references are fresh processes in every run, so the
      // warm-up needs no reference. In each run the key kinds follow each other (v4 first).
      for (let run = -1; run < runs; run++) {
        const label = run < 0 ? 'warm-up' : `run ${run + 1}/${runs}`;
        for (const [i, keyed] of initial.entries()) {
          const source = sources[i]!;
          const sender = senders[i]!;
          const reference = run < 0 ? undefined : await mergeReference(dir, source, log);
          const last = run === runs - 1 && keyed.keys === 'v7';
          const sample = await syncOnce(dir, sender, source, log, async (receiver) => {
            if (last) live = await measureLive(sender, receiver, source.path, rows, liveWrites, log);
          });
          const versus = reference ? `, merge in-process ${reference.mergeMs.toFixed(0)} ms (${(sample.ms / reference.mergeMs).toFixed(2)}x)` : '';
          log(`sync: ${label}, ${KEY_LABELS[keyed.keys]} keys: end-to-end ${sample.ms.toFixed(0)} ms${versus}`);
          if (reference === undefined) continue;
          keyed.samples.push(sample);
          keyed.references.push(reference);
        }
      }
    } finally {
      await Promise.all(senders.map((sender) => sender.stop()));
      for (const source of sources) discardDb(source.path);
    }

    const big = { rows: bigRows, syncs: await bigSyncs(dir, bigRows, bigRuns, log) };
    const figures: SyncFigures = { rows, runs, initial, live: live!, big };
    printSyncReport(figures);
    return syncSuiteResult(figures);
  } finally {
    process.off('SIGTERM', onTerm);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function makeSource(dir: string, rows: number, seed: number, keys: KeyKind, log: (line: string) => void): Promise<Source> {
  const path = freshPath(dir, `source-${keys}`);
  const started = performance.now();
  const made = await createSource(path, rows, seed, keys);
  log(`sync: source of ${rows} rows with ${KEY_LABELS[keys]} keys written in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return { ...made, path, keys };
}

/** The in-process reference in a fresh child, reading the sender's file through its own connection. */
async function mergeReference(dir: string, source: Source, log: (line: string) => void): Promise<MergeReference> {
  const dstPaths: [string, string] = [freshPath(dir, 'merged'), freshPath(dir, 'merged-batches')];
  try {
    const child = await BenchChild.start<MergeReference>('merge', { role: 'merge', srcPath: source.path, dstPaths, batchSize: BATCH_SIZE }, log, 600_000);
    await child.exited();
    return child.ready;
  } finally {
    for (const path of dstPaths) discardDb(path);
  }
}

/**
 * A fresh receiver process with an empty database dials the sender and waits for every row.
 * `connected` runs while the live session is still open (and the counters are read before it).
 */
async function syncOnce(dir: string, sender: BenchChild<NodeReady>, source: Source, log: (line: string) => void, connected?: (receiver: BenchChild) => Promise<void>): Promise<SyncSample> {
  const path = freshPath(dir, 'receiver');
  const address = sender.ready.addresses[0]!;
  try {
    const receiverId = await createReceiver(path, source.deviceId);
    await sender.request('authorize', { userId: source.userId, peerId: receiverId });
    const receiver = await BenchChild.start<NodeReady>('receiver', { role: 'node', dbPath: path }, log);
    try {
      const before = { sender: sender.memory(), receiver: receiver.memory() };
      const reset = sender.resetPeak() && receiver.resetPeak();
      await Promise.all([sender.request('resetMemoryPeaks'), receiver.request('resetMemoryPeaks')]);
      const senderCpu0 = (await sender.request<Stats>('stats')).cpuMs;
      const result = await receiver.request<InitialSyncResult>('sync', { address, rows: source.rows }, Math.max(120_000, source.rows * 0.5));
      const socket = socketBytes(tcpPort(address));
      const senderStats = await sender.request<Stats>('stats');
      const receiverStats = await receiver.request<Stats>('stats');
      const after = { sender: sender.memory(), receiver: receiver.memory() };
      const memory =
        before.sender && before.receiver && after.sender && after.receiver
          ? { reset, senderPeak: after.sender.peakKiB, senderBefore: before.sender.rssKiB, receiverPeak: after.receiver.peakKiB, receiverBefore: before.receiver.rssKiB }
          : undefined;
      await connected?.(receiver);
      const peaks = { sender: senderStats.memoryPeaks, receiver: receiverStats.memoryPeaks };
      return { ...result, senderCpuMs: senderStats.cpuMs - senderCpu0, socket, memory, peaks, senderErrors: senderStats.errors };
    } finally {
      await receiver.stop();
    }
  } finally {
    discardDb(path);
  }
}

/**
 * The 1M-row syncs: their own sources and senders, a fresh receiver each run, peak memory of both
 * processes. The peak depends on when V8 runs a full GC, so it is taken over several runs.
 */
async function bigSyncs(dir: string, rows: number, runs: number, log: (line: string) => void): Promise<KeyedSyncs[]> {
  const sources: Source[] = [];
  try {
    for (const keys of KEY_KINDS) sources.push(await makeSource(dir, rows, 0xb16, keys, log));
    const senders = await startSenders(sources, 'big ', log);
    try {
      const syncs: KeyedSyncs[] = sources.map((source) => ({ keys: source.keys, source, samples: [], references: [] }));
      for (let run = 0; run < runs; run++) {
        for (const [i, keyed] of syncs.entries()) {
          const sample = await syncOnce(dir, senders[i]!, sources[i]!, log);
          const peak = sample.memory ? `, receiver peak RSS ${((sample.memory.receiverPeak * 1024) / 1e6).toFixed(0)} MB` : '';
          log(`sync: ${rows} rows with ${KEY_LABELS[keyed.keys]} keys end-to-end in ${(sample.ms / 1000).toFixed(1)} s (run ${run + 1}/${runs})${peak}`);
          keyed.samples.push(sample);
        }
      }
      return syncs;
    } finally {
      await Promise.all(senders.map((sender) => sender.stop()));
    }
  } finally {
    for (const source of sources) discardDb(source.path);
  }
}

/** A long-running sender per source, started together (nothing is timed yet); all stopped if one fails. */
async function startSenders(sources: readonly Source[], prefix: string, log: (line: string) => void): Promise<BenchChild<NodeReady>[]> {
  const started = await Promise.allSettled(sources.map((source) => BenchChild.start<NodeReady>(`${prefix}${source.keys} sender`, { role: 'node', dbPath: source.path }, log)));
  const senders = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s) => s.status === 'rejected');
  if (failed === undefined) return senders;
  await Promise.all(senders.map((sender) => sender.stop()));
  throw failed.reason;
}

function freshPath(dir: string, label: string): string {
  fileCounter += 1;
  return join(dir, `${label}-${fileCounter}.db`);
}

function discardDb(path: string): void {
  for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(path + suffix, { force: true });
}
