/**
 * The sync suite's report: a figure table (figure | value | goal | met?) and where the time of an
 * initial sync goes, printed on stdout, plus the two paired figures (in-process vs over libp2p) in
 * the foundation suite's format, which index.ts renders.
 */
import type { SuiteResult } from './report.ts';
import type { MemoryPeaks, SyncFigures, SyncSample } from './sync.ts';
import { formatMs, markdownTable, median } from './util.ts';

const ROWS_PER_S_GOAL = 100_000;
const E2E_OVER_MERGE_GOAL = 1.5;
const BYTES_GOAL = 2;
const RSS_GOAL_MB = 300;
const LATENCY_GOAL_MS = 20;

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

export function printSyncReport(f: SyncFigures): void {
  const { rows, source, samples, references, live, big } = f;
  const e2e = samples.map((s) => s.ms);
  const merges = references.map((r) => r.mergeMs);
  const ratios = samples.map((s, i) => s.ms / references[i]!.mergeMs);
  const e2eRate = rate(rows, median(e2e));
  const ratio = median(e2e) / median(merges);
  const cells3 = rows * 3;
  const cells4 = rows * 4;
  const wire = median(samples.map(sessionBytes));
  const socket = samples.every((s) => s.socket) ? median(samples.map((s) => s.socket!.sent + s.socket!.received)) : undefined;
  const perCell = (bytes: number, cells: number, raw: number) => {
    const r = bytes / raw;
    return { text: `${(bytes / cells).toFixed(1)} B vs ${(raw / cells).toFixed(1)} B raw = ${r.toFixed(2)}x`, ok: r <= BYTES_GOAL };
  };
  const rawWithKeys = source.valueBytes + source.keyBytes;
  const bytesRows: string[][] = [];
  const addBytes = (figure: string, bytes: number | undefined, cells: number, raw: number) => {
    if (bytes === undefined) return bytesRows.push([figure, 'not measured (ss not available)', `<= ${BYTES_GOAL}x`, '-']);
    const c = perCell(bytes, cells, raw);
    bytesRows.push([figure, c.text, `<= ${BYTES_GOAL}x`, verdict(c.ok)]);
  };
  addBytes('initial sync: session bytes per changed cell, key not counted (3 cells a row)', wire, cells3, source.valueBytes);
  addBytes('initial sync: session bytes per changed cell, key counted as a value (4 cells a row)', wire, cells4, rawWithKeys);
  addBytes('initial sync: TCP payload per changed cell (socket level), key not counted', socket, cells3, source.valueBytes);
  addBytes('initial sync: TCP payload per changed cell (socket level), key counted', socket, cells4, rawWithKeys);
  const keyBytesPerRow = source.keyBytes / rows;
  addBytes(`one-column integer update of ${thousands(live.updateRows)} rows (live push): session bytes per cell, key not counted`, live.updateWireBytes, live.updateRows, live.updateRows * 8);
  addBytes(`one-column integer update: session bytes per cell, key counted`, live.updateWireBytes, live.updateRows, live.updateRows * (8 + keyBytesPerRow));

  const latency = (label: string, values: number[]) => {
    const med = median(values);
    return [`live write-to-visible, ${label} (${values.length} writes): median / p99`, `${formatMs(med)} ms / ${formatMs(percentile(values, 0.99))} ms (max ${formatMs(Math.max(...values))})`, `median < ${LATENCY_GOAL_MS} ms`, verdict(med < LATENCY_GOAL_MS)];
  };
  const bigMs = big.samples.map((s) => s.ms);
  const bigRate = rate(big.rows, median(bigMs));
  const runsNote = `${big.samples.length} run${big.samples.length === 1 ? '' : 's'}`;
  const measured = big.samples.filter((s) => s.memory !== undefined);
  const worst = (pick: (s: SyncSample) => number) => measured.reduce((a, b) => (pick(b) > pick(a) ? b : a));
  const js = (p: MemoryPeaks) => `V8 heap ${mbBytes(p.heapTotal)} (used ${mbBytes(p.heapUsed)}), buffers ${mbBytes(p.arrayBuffers)}`;
  const memoryRows: string[][] = [['peak RSS during the big sync', 'not measured (no /proc)', `< ${RSS_GOAL_MB} MB`, '-']];
  if (measured.length > 0) {
    const r = worst((s) => s.memory!.receiverPeak);
    const s = worst((x) => x.memory!.senderPeak);
    const small = median(samples.map((x) => x.memory?.receiverPeak ?? Number.NaN));
    const all = (pick: (m: NonNullable<SyncSample['memory']>) => number) => measured.map((x) => mb(pick(x.memory!))).join(', ');
    const window = r.memory!.reset ? 'VmHWM reset before the dial' : 'VmHWM over the whole process life';
    memoryRows.splice(
      0,
      1,
      [`peak RSS of the receiver during the ${thousands(big.rows)}-row sync, highest of ${runsNote} (${window})`, `${mb(r.memory!.receiverPeak)} (runs: ${all((x) => x.receiverPeak)}; before the dial ${mb(r.memory!.receiverBefore)}; in that run: ${js(r.peaks.receiver)}; ${thousands(rows)}-row sync: ${mb(small)})`, `< ${RSS_GOAL_MB} MB`, verdict((r.memory!.receiverPeak * 1024) / 1e6 < RSS_GOAL_MB)],
      [`peak RSS of the sender during the same syncs, highest`, `${mb(s.memory!.senderPeak)} (runs: ${all((x) => x.senderPeak)}; before the dial ${mb(s.memory!.senderBefore)}; in that run: ${js(s.peaks.sender)})`, 'report', '-'],
    );
  }

  const table = [
    [`initial sync of ${thousands(rows)} rows, end-to-end: dial to last row committed on the receiver`, `${formatMs(median(e2e))} ms = ${thousands(e2eRate)} rows/s${spread(e2e.map((ms) => rate(rows, ms)), thousands)}`, `>= ${thousands(ROWS_PER_S_GOAL)} rows/s`, verdict(e2eRate >= ROWS_PER_S_GOAL)],
    ['in-process merge of the same entries into an empty database', `${formatMs(median(merges))} ms = ${thousands(rate(rows, median(merges)))} rows/s`, 'report', '-'],
    ['end-to-end / in-process merge', `${ratio.toFixed(2)}x${spread(ratios, (v) => v.toFixed(2))}`, `<= ${E2E_OVER_MERGE_GOAL}x`, verdict(ratio <= E2E_OVER_MERGE_GOAL)],
    ...bytesRows,
    latency("writes on the sender's own connection", live.ownConnectionMs),
    latency("writes by another process on the sender's file", live.otherProcessMs),
    ['live single-row write: session bytes sender to receiver per write', `${live.bytesPerLiveWrite.toFixed(0)} B`, 'report', '-'],
    [`initial sync of ${thousands(big.rows)} rows, end-to-end (median of ${runsNote})`, `${(median(bigMs) / 1000).toFixed(1)} s = ${thousands(bigRate)} rows/s${spread(bigMs.map((ms) => rate(big.rows, ms)), thousands)}`, 'report', '-'],
    ...memoryRows,
  ];

  const ref = (pick: (r: (typeof references)[number]) => number) => median(references.map(pick));
  const e2eMed = median(e2e);
  const part = (label: string, side: string, ms: number) => [label, side, formatMs(ms), thousands(rate(rows, ms)), `${((ms / e2eMed) * 100).toFixed(0)}%`];
  const breakdown = [
    part('export: getOplogEntriesSince, all at once', 'sender', ref((r) => r.exportMs)),
    part(`encode: encodeBatchFrames, windows of ${1000}`, 'sender', ref((r) => r.encodeMs)),
    part('decode: decodeMessage of those frames', 'receiver', ref((r) => r.decodeMs)),
    part('merge, one call', 'receiver', ref((r) => r.mergeMs)),
    part(`merge, one call per decoded frame (as the session applies)`, 'receiver', ref((r) => r.batchedMergeMs)),
    part('CPU time of the receiver process during the sync', 'receiver', median(samples.map((s) => s.cpuMs))),
    part('CPU time of the sender process during the sync', 'sender', median(samples.map((s) => s.senderCpuMs))),
    part('of which node.dial (connection up: TCP, Noise, Yamux)', 'both', median(samples.map((s) => s.dialMs))),
    part('end-to-end wall time', 'both', e2eMed),
  ];
  const errors = [...new Set(samples.flatMap((s) => s.senderErrors))];

  console.log(
    [
      `## sync: two nodes in two processes on 127.0.0.1, ${thousands(rows)} rows, median of ${f.runs} run${f.runs === 1 ? '' : 's'}`,
      '',
      markdownTable(['figure', 'value', 'goal', 'met?'], table),
      '',
      `### where the time of the ${thousands(rows)}-row initial sync goes (medians; in-process parts from a fresh process each run)`,
      '',
      markdownTable(['part', 'side', 'ms', 'rows/s', 'of end-to-end'], breakdown),
      '',
      `- table: text UUIDv7 key (36 B), title text (${(source.valueBytes / rows - 16).toFixed(1)} B on average), integer, real; one insert per row, so one log entry per row. PowerSync publishes 27.6k rows/s for its desktop initial sync.`,
      '- end-to-end: a fresh receiver process with an empty database (the table created, the sender on its device list) calls node.dial(sender) and stops the clock at the sync:progress event whose count reaches every row (it follows the commit of the last batch); the row count is then checked. The sender is a long-running process (a warm-up run is dropped), the receiver and the in-process reference are fresh processes in every run.',
      `- session bytes: the session's own counters (sync:complete bytesReceived + bytesSent on the receiver): every frame of both directions with its length prefix (HELLO, HAVE, BATCH, ACK, CAUGHT_UP). They leave out libp2p: Noise (16 B tag per message), Yamux (12 B header per data frame), multistream-select, identify and ping. TCP payload: bytes_sent + bytes_received of the sender's socket from tcp_info (ss), for the whole connection up to catch-up; IP/TCP headers not counted. raw: UTF-8 bytes of text values, 8 B per integer and real; "key counted" adds the key's 36 B to each row's raw size and counts it as a cell.`,
      `- live latency: a write's time is taken right before the UPDATE (in the sender process, or in the bench process for the other-process case); visibility is the receiver's sync:progress event (emitted after the batch transaction commits) followed by a read of the row on the receiver's connection. Both times are CLOCK_MONOTONIC (process.hrtime, one clock for all processes on Linux), resolution 1 µs. Writes are one at a time, 1-6 ms apart (random).`,
      `- RSS: VmHWM from /proc/<pid>/status of each child, reset through /proc/<pid>/clear_refs just before the dial; "before the dial" is VmRSS at that moment. The V8 heap and buffer peaks are the largest process.memoryUsage() values sampled every 50 ms in the child (between batches: a sample cannot interrupt a merge).`,
      ...(errors.length > 0 ? [`- errors reported by the sender: ${errors.join('; ')}`] : []),
    ].join('\n') + '\n',
  );
}

/** The two paired figures, in the foundation suite's table: plain = in-process, synced = over libp2p. */
export function syncSuiteResult(f: SyncFigures): SuiteResult {
  return {
    title: `sync, paired figures per run (plain = in-process reference, synced = over libp2p between two processes), ${thousands(f.rows)} rows`,
    phases: [
      { phase: 'initial sync: merge in-process vs end-to-end', unit: 'ms', plain: f.references.map((r) => r.mergeMs), synced: f.samples.map((s) => s.ms), goal: E2E_OVER_MERGE_GOAL, reference: 'PowerSync: 27.6k rows/s' },
      { phase: 'initial sync: raw value bytes (key not counted) vs session bytes (MiB)', unit: 'bytes', plain: f.samples.map(() => f.source.valueBytes), synced: f.samples.map(sessionBytes), goal: BYTES_GOAL, reference: '-' },
    ],
    notes: ['The figure table above explains each measurement; this table shows the spread of the ratio over the runs.'],
  };
}
