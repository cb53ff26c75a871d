/**
 * The sync suite's report: a figure table (figure | keys | value | goal | met?) and where the time
 * of an initial sync goes (both kinds of key side by side), printed on stdout, plus the paired
 * figures (in-process vs over libp2p) in the foundation suite's format, which index.ts renders.
 */
import type { KeyKind } from './data.ts';
import type { SuiteResult } from './report.ts';
import type { KeyedSyncs, MemoryPeaks, SyncFigures, SyncSample } from './sync.ts';
import { formatMs, markdownTable, median } from './util.ts';

const ROWS_PER_S_GOAL = 150_000;
const E2E_OVER_MERGE_GOAL = 1.5;
const BYTES_GOAL = 2;
const RSS_GOAL_MB = 300;
const LATENCY_GOAL_MS = 20;

/** How the tables name the key kinds (as the foundation suite does). */
export const KEY_LABELS: Record<KeyKind, string> = { v4: 'UUIDv4', v7: 'UUIDv7' };

const rate = (rows: number, ms: number) => Math.round((rows / ms) * 1000);
const thousands = (n: number) => n.toLocaleString('en-US');
const mb = (kib: number) => `${((kib * 1024) / 1e6).toFixed(0)} MB`;
const mbBytes = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;
const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
const spread = (values: number[], format: (v: number) => string) => (values.length > 1 ? ` (runs ${format(Math.min(...values))}-${format(Math.max(...values))})` : '');

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/** Session bytes of one initial sync, both directions: frames with their length prefixes. */
const sessionBytes = (s: SyncSample) => s.complete.bytesReceived + s.complete.bytesSent;

type Row = [figure: string, keys: string, value: string, goal: string, met: string];

/** The initial-sync figures of one kind of key: rate, merge reference, their ratio, bytes. */
function initialRows(rows: number, { keys, source, samples, references }: KeyedSyncs): { rates: Row[]; bytes: Row[] } {
  const label = KEY_LABELS[keys];
  const e2e = samples.map((s) => s.ms);
  const merges = references.map((r) => r.mergeMs);
  const ratios = samples.map((s, i) => s.ms / references[i]!.mergeMs);
  const e2eRate = rate(rows, median(e2e));
  const ratio = median(e2e) / median(merges);
  const rates: Row[] = [
    [`initial sync of ${thousands(rows)} rows, end-to-end: dial to last row committed on the receiver`, label, `${formatMs(median(e2e))} ms = ${thousands(e2eRate)} rows/s${spread(e2e.map((ms) => rate(rows, ms)), thousands)}`, `>= ${thousands(ROWS_PER_S_GOAL)} rows/s`, verdict(e2eRate >= ROWS_PER_S_GOAL)],
    ['in-process merge of the same entries into an empty database', label, `${formatMs(median(merges))} ms = ${thousands(rate(rows, median(merges)))} rows/s`, 'report', '-'],
    ['end-to-end / in-process merge', label, `${ratio.toFixed(2)}x${spread(ratios, (v) => v.toFixed(2))}`, `<= ${E2E_OVER_MERGE_GOAL}x`, verdict(ratio <= E2E_OVER_MERGE_GOAL)],
  ];
  const cells3 = rows * 3;
  const cells4 = rows * 4;
  const wire = median(samples.map(sessionBytes));
  const socket = samples.every((s) => s.socket) ? median(samples.map((s) => s.socket!.sent + s.socket!.received)) : undefined;
  const rawWithKeys = source.valueBytes + source.keyBytes;
  const bytes: Row[] = [];
  const addBytes = (figure: string, measured: number | undefined, cells: number, raw: number) => bytes.push(bytesRow(figure, label, measured, cells, raw));
  addBytes('initial sync: session bytes per changed cell, key not counted (3 cells a row)', wire, cells3, source.valueBytes);
  addBytes('initial sync: session bytes per changed cell, key counted as a value (4 cells a row)', wire, cells4, rawWithKeys);
  addBytes('initial sync: TCP payload per changed cell (socket level), key not counted', socket, cells3, source.valueBytes);
  addBytes('initial sync: TCP payload per changed cell (socket level), key counted', socket, cells4, rawWithKeys);
  return { rates, bytes };
}

function bytesRow(figure: string, keys: string, bytes: number | undefined, cells: number, raw: number): Row {
  if (bytes === undefined) return [figure, keys, 'not measured (ss not available)', `<= ${BYTES_GOAL}x`, '-'];
  const r = bytes / raw;
  return [figure, keys, `${(bytes / cells).toFixed(1)} B vs ${(raw / cells).toFixed(1)} B raw = ${r.toFixed(2)}x`, `<= ${BYTES_GOAL}x`, verdict(r <= BYTES_GOAL)];
}

/** UUIDv4 over UUIDv7 of the same figure, per run (both kinds run back to back in each run). */
function keyOrderRow(figure: string, v4: number[], v7: number[]): Row {
  const perRun = v4.map((ms, i) => ms / v7[i]!);
  return [figure, `${KEY_LABELS.v4} / ${KEY_LABELS.v7}`, `${(median(v4) / median(v7)).toFixed(2)}x${spread(perRun, (v) => v.toFixed(2))}`, 'report', '-'];
}

const js = (p: MemoryPeaks) => `V8 heap ${mbBytes(p.heapTotal)} (used ${mbBytes(p.heapUsed)}), buffers ${mbBytes(p.arrayBuffers)}`;

/** The big syncs of one kind of key: their rate and the peak RSS of both processes. */
function bigRows(bigCount: number, smallCount: number, small: KeyedSyncs, { keys, samples }: KeyedSyncs): Row[] {
  const label = KEY_LABELS[keys];
  const ms = samples.map((s) => s.ms);
  const runsNote = `${samples.length} run${samples.length === 1 ? '' : 's'}`;
  const timeRow: Row = [`initial sync of ${thousands(bigCount)} rows, end-to-end (median of ${runsNote})`, label, `${(median(ms) / 1000).toFixed(1)} s = ${thousands(rate(bigCount, median(ms)))} rows/s${spread(ms.map((x) => rate(bigCount, x)), thousands)}`, 'report', '-'];
  const measured = samples.filter((s) => s.memory !== undefined);
  if (measured.length === 0) return [timeRow, ['peak RSS during the big sync', label, 'not measured (no /proc)', `< ${RSS_GOAL_MB} MB`, '-']];
  const worst = (pick: (s: SyncSample) => number) => measured.reduce((a, b) => (pick(b) > pick(a) ? b : a));
  const r = worst((s) => s.memory!.receiverPeak);
  const s = worst((x) => x.memory!.senderPeak);
  const smallPeak = median(small.samples.map((x) => x.memory?.receiverPeak ?? Number.NaN));
  const all = (pick: (m: NonNullable<SyncSample['memory']>) => number) => measured.map((x) => mb(pick(x.memory!))).join(', ');
  const window = r.memory!.reset ? 'VmHWM reset before the dial' : 'VmHWM over the whole process life';
  return [
    timeRow,
    [`peak RSS of the receiver during the ${thousands(bigCount)}-row sync, highest of ${runsNote} (${window})`, label, `${mb(r.memory!.receiverPeak)} (runs: ${all((x) => x.receiverPeak)}; before the dial ${mb(r.memory!.receiverBefore)}; in that run: ${js(r.peaks.receiver)}; ${thousands(smallCount)}-row sync: ${mb(smallPeak)})`, `< ${RSS_GOAL_MB} MB`, verdict((r.memory!.receiverPeak * 1024) / 1e6 < RSS_GOAL_MB)],
    [`peak RSS of the sender during the same syncs, highest`, label, `${mb(s.memory!.senderPeak)} (runs: ${all((x) => x.senderPeak)}; before the dial ${mb(s.memory!.senderBefore)}; in that run: ${js(s.peaks.sender)})`, 'report', '-'],
  ];
}

export function printSyncReport(f: SyncFigures): void {
  const { rows, initial, live, big } = f;
  const perKind = initial.map((keyed) => initialRows(rows, keyed));
  const v4 = initial.find((k) => k.keys === 'v4');
  const v7 = initial.find((k) => k.keys === 'v7');
  const keyOrder: Row[] =
    v4 && v7
      ? [
          keyOrderRow('initial sync end-to-end, UUIDv4 keys over UUIDv7 keys (same run)', v4.samples.map((s) => s.ms), v7.samples.map((s) => s.ms)),
          keyOrderRow('in-process merge, UUIDv4 keys over UUIDv7 keys (same run)', v4.references.map((r) => r.mergeMs), v7.references.map((r) => r.mergeMs)),
        ]
      : [];
  const liveKeys = KEY_LABELS.v7;
  const keyBytesPerRow = (v7 ?? initial[0]!).source.keyBytes / rows;
  const latency = (label: string, values: number[]): Row => {
    const med = median(values);
    return [`live write-to-visible, ${label} (${values.length} writes): median / p99`, liveKeys, `${formatMs(med)} ms / ${formatMs(percentile(values, 0.99))} ms (max ${formatMs(Math.max(...values))})`, `median < ${LATENCY_GOAL_MS} ms`, verdict(med < LATENCY_GOAL_MS)];
  };

  const table: Row[] = [
    ...perKind.flatMap((k) => k.rates),
    ...keyOrder,
    ...perKind.flatMap((k) => k.bytes),
    bytesRow(`one-column integer update of ${thousands(live.updateRows)} rows (live push): session bytes per cell, key not counted`, liveKeys, live.updateWireBytes, live.updateRows, live.updateRows * 8),
    bytesRow(`one-column integer update: session bytes per cell, key counted`, liveKeys, live.updateWireBytes, live.updateRows, live.updateRows * (8 + keyBytesPerRow)),
    latency("writes on the sender's own connection", live.ownConnectionMs),
    latency("writes by another process on the sender's file", live.otherProcessMs),
    ['live single-row write: session bytes sender to receiver per write', liveKeys, `${live.bytesPerLiveWrite.toFixed(0)} B`, 'report', '-'],
    ...big.syncs.flatMap((keyed) => bigRows(big.rows, rows, initial.find((k) => k.keys === keyed.keys) ?? keyed, keyed)),
  ];

  // Where the time goes: one column group per kind of key, side by side.
  const parts: [label: string, side: string, pick: (k: KeyedSyncs) => number][] = [
    ['export: getOplogEntriesSince, all at once', 'sender', (k) => median(k.references.map((r) => r.exportMs))],
    [`encode: encodeBatchFrames, windows of ${1000}`, 'sender', (k) => median(k.references.map((r) => r.encodeMs))],
    ['decode: decodeMessage of those frames', 'receiver', (k) => median(k.references.map((r) => r.decodeMs))],
    ['merge, one call', 'receiver', (k) => median(k.references.map((r) => r.mergeMs))],
    ['merge, one call (one transaction) per decoded frame', 'receiver', (k) => median(k.references.map((r) => r.batchedMergeMs))],
    ['CPU time of the receiver process during the sync', 'receiver', (k) => median(k.samples.map((s) => s.cpuMs))],
    ['CPU time of the sender process during the sync', 'sender', (k) => median(k.samples.map((s) => s.senderCpuMs))],
    ['of which node.dial (connection up: TCP, Noise, Yamux)', 'both', (k) => median(k.samples.map((s) => s.dialMs))],
    ['of which dial to the first batch committed on the receiver', 'both', (k) => median(k.samples.map((s) => s.firstMs))],
    ['end-to-end wall time', 'both', (k) => median(k.samples.map((s) => s.ms))],
  ];
  const breakdown = parts.map(([label, side, pick]) => [
    label,
    side,
    ...initial.flatMap((k) => {
      const ms = pick(k);
      const e2e = median(k.samples.map((s) => s.ms));
      return [formatMs(ms), thousands(rate(rows, ms)), `${((ms / e2e) * 100).toFixed(0)}%`];
    }),
  ]);
  const breakdownHeader = ['part', 'side', ...initial.flatMap((k) => [`${KEY_LABELS[k.keys]}: ms`, 'rows/s', 'of end-to-end'])];
  const errors = [...new Set(initial.flatMap((k) => k.samples.flatMap((s) => s.senderErrors)))];
  const sample = v7 ?? initial[0]!;

  console.log(
    [
      `## sync: two nodes in two processes on 127.0.0.1, ${thousands(rows)} rows, median of ${f.runs} run${f.runs === 1 ? '' : 's'}`,
      '',
      markdownTable(['figure', 'keys', 'value', 'goal', 'met?'], table),
      '',
      `### where the time of the ${thousands(rows)}-row initial sync goes (medians; in-process parts from a fresh process each run)`,
      '',
      markdownTable(breakdownHeader, breakdown),
      '',
      `- table: text key (36 B), title text (${(sample.source.valueBytes / rows - 16).toFixed(1)} B on average), integer, real; one insert per row, so one log entry per row. Keys: ${KEY_LABELS.v4} = 122 random bits as \`crypto.randomUUID()\` makes them (what most apps use; here from a seeded generator), ${KEY_LABELS.v7} = time-ordered, so rows are inserted in key order; the same values for both, one source and one sender process per kind. In each run the two kinds follow each other, so "${KEY_LABELS.v4} / ${KEY_LABELS.v7}" compares like with like. Live figures are measured on the ${KEY_LABELS.v7} sender. PowerSync publishes 27.6k rows/s for its desktop initial sync.`,
      '- end-to-end: a fresh receiver process with an empty database (the table created, the sender on its device list) calls node.dial(sender) and stops the clock at the sync:progress event whose count reaches every row (it follows the commit of the last batch); the row count is then checked. The senders are long-running processes (a warm-up run is dropped), the receiver and the in-process reference are fresh processes in every run.',
      `- session bytes: the session's own counters (sync:complete bytesReceived + bytesSent on the receiver): every frame of both directions with its length prefix (HELLO, HAVE, BATCH, ACK, CAUGHT_UP). They leave out libp2p: Noise (16 B tag per message), Yamux (12 B header per data frame), multistream-select, identify and ping. TCP payload: bytes_sent + bytes_received of the sender's socket from tcp_info (ss), for the whole connection up to catch-up; IP/TCP headers not counted. raw: UTF-8 bytes of text values, 8 B per integer and real; "key counted" adds the key's 36 B to each row's raw size and counts it as a cell.`,
      `- live latency: a write's time is taken right before the UPDATE (in the sender process, or in the bench process for the other-process case); visibility is the receiver's sync:progress event (emitted once the transaction holding the batch has committed) followed by a read of the row on the receiver's connection. Both times are CLOCK_MONOTONIC (process.hrtime, one clock for all processes on Linux), resolution 1 µs. Writes are one at a time, 1-6 ms apart (random).`,
      `- RSS: VmHWM from /proc/<pid>/status of each child, reset through /proc/<pid>/clear_refs just before the dial; "before the dial" is VmRSS at that moment. The V8 heap and buffer peaks are the largest process.memoryUsage() values sampled every 50 ms in the child (between batches: a sample cannot interrupt a merge).`,
      ...(errors.length > 0 ? [`- errors reported by the sender: ${errors.join('; ')}`] : []),
    ].join('\n') + '\n',
  );
}

/** The paired figures, in the foundation suite's table: plain = in-process, synced = over libp2p, per kind of key. */
export function syncSuiteResult(f: SyncFigures): SuiteResult {
  const v7 = f.initial.find((k) => k.keys === 'v7');
  const paired = ({ samples, references }: KeyedSyncs) => ({ plain: references.map((r) => r.mergeMs), synced: samples.map((s) => s.ms) });
  const bytes = ({ source, samples }: KeyedSyncs) => ({ plain: samples.map(() => source.valueBytes), synced: samples.map(sessionBytes) });
  const versus = (keyed: KeyedSyncs, pick: (k: KeyedSyncs) => { plain: number[]; synced: number[] }) => [keyed.keys === 'v7' || v7 === undefined ? undefined : pick(v7)];
  return {
    title: `sync, paired figures per run (plain = in-process reference, synced = over libp2p between two processes), ${thousands(f.rows)} rows`,
    variantColumns: ['keys'],
    versusColumns: [`${KEY_LABELS.v4} / ${KEY_LABELS.v7} (same run)`],
    phases: f.initial.flatMap((keyed) => [
      { phase: 'initial sync: merge in-process vs end-to-end', variant: [KEY_LABELS[keyed.keys]], unit: 'ms' as const, ...paired(keyed), goal: E2E_OVER_MERGE_GOAL, versus: versus(keyed, paired), reference: 'PowerSync: 27.6k rows/s' },
      { phase: 'initial sync: raw value bytes (key not counted) vs session bytes (MiB)', variant: [KEY_LABELS[keyed.keys]], unit: 'bytes' as const, ...bytes(keyed), goal: BYTES_GOAL, versus: versus(keyed, bytes), reference: '-' },
    ]),
    notes: ['The figure table above explains each measurement; this table shows the spread of the ratio over the runs.'],
  };
}
