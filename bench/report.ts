/** Turns paired plain/synced samples into the markdown table `npm run bench` prints. */
import { formatBytes, formatMs, formatRatio, markdownTable, median } from './util.ts';

export interface PhaseResult {
  phase: string;
  /** Times are milliseconds; sizes are bytes. */
  unit: 'ms' | 'bytes';
  /** One sample per run; plain[i] and synced[i] come from the same run. */
  plain: number[];
  synced: number[];
  /** Upper bound on synced/plain; absent for figures that are only reported. */
  goal?: number;
  /** What cr-sqlite measured for the same phase on this machine class. */
  reference: string;
}

export interface SuiteResult {
  title: string;
  phases: PhaseResult[];
  notes: string[];
}

export const RESULT_HEADER = ['phase', 'plain (ms, median)', 'synced (ms, median)', 'ratio', 'goal', 'cr-sqlite reference'] as const;

/** The ratio of the medians, which is what the two median columns show. */
export function ratioOf(result: PhaseResult): number {
  return median(result.synced) / median(result.plain);
}

export function renderSuite(suite: SuiteResult): string {
  const body = suite.phases.map((r) => {
    const format = r.unit === 'ms' ? formatMs : formatBytes;
    const ratio = ratioOf(r);
    const perRun = r.plain.map((p, i) => r.synced[i]! / p);
    const spread = perRun.length > 1 ? ` (runs ${Math.min(...perRun).toFixed(2)}-${Math.max(...perRun).toFixed(2)})` : '';
    const goal = r.goal === undefined ? 'report' : `<= ${r.goal}x ${ratio <= r.goal ? 'met' : 'MISSED'}`;
    return [r.phase, format(median(r.plain)), format(median(r.synced)), `${formatRatio(ratio)}${spread}`, goal, r.reference];
  });
  const notes = suite.notes.map((n) => `- ${n}`);
  return [`## ${suite.title}`, '', markdownTable(RESULT_HEADER, body), ...(notes.length > 0 ? ['', ...notes] : [])].join('\n');
}
