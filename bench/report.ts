/** Turns paired plain/synced samples into the markdown table `npm run bench` prints. */
import { formatBytes, formatMs, formatRatio, markdownTable, median } from './util.ts';

/** One sample per run of each side; plain[i] and synced[i] come from the same run. */
export interface PairedSamples {
  plain: number[];
  synced: number[];
}

export interface PhaseResult extends PairedSamples {
  phase: string;
  /** The cells of the suite's variant columns (e.g. which keys, which adapter), in their order. */
  variant?: readonly string[];
  /** Times are milliseconds; sizes are bytes. */
  unit: 'ms' | 'bytes';
  /** Upper bound on synced/plain; absent for figures that are only reported. */
  goal?: number;
  /** What cr-sqlite measured for the same phase on this machine class. */
  reference: string;
  /**
   * For each of the suite's comparison columns: the same phase measured the other way in the same
   * runs (this line's medians are divided by its medians), or undefined on the line compared against.
   */
  versus?: readonly (PairedSamples | undefined)[];
}

export interface SuiteResult {
  title: string;
  phases: PhaseResult[];
  notes: string[];
  /** Columns after the phase that tell apart lines of one phase, e.g. ['keys', 'adapter']. */
  variantColumns?: readonly string[];
  /** Comparison columns before the reference, e.g. ['node:sqlite / better-sqlite3']; see PhaseResult.versus. */
  versusColumns?: readonly string[];
}

/** The ratio of the medians, which is what the two median columns show. */
export function ratioOf(result: PhaseResult): number {
  return median(result.synced) / median(result.plain);
}

export function renderSuite(suite: SuiteResult): string {
  const variantColumns = suite.variantColumns ?? [];
  const versusColumns = suite.versusColumns ?? [];
  const header = ['phase', ...variantColumns, 'plain (ms, median)', 'synced (ms, median)', 'ratio', 'goal', ...versusColumns, 'cr-sqlite reference'];
  const body = suite.phases.map((r) => {
    const format = r.unit === 'ms' ? formatMs : formatBytes;
    const ratio = ratioOf(r);
    const perRun = r.plain.map((p, i) => r.synced[i]! / p);
    const spread = perRun.length > 1 ? ` (runs ${Math.min(...perRun).toFixed(2)}-${Math.max(...perRun).toFixed(2)})` : '';
    const goal = r.goal === undefined ? 'report' : `<= ${r.goal}x ${ratio <= r.goal ? 'met' : 'MISSED'}`;
    const variant = variantColumns.map((_, i) => r.variant?.[i] ?? '-');
    const versus = versusColumns.map((_, i) => versusCell(r, r.versus?.[i]));
    return [r.phase, ...variant, format(median(r.plain)), format(median(r.synced)), `${formatRatio(ratio)}${spread}`, goal, ...versus, r.reference];
  });
  const notes = suite.notes.map((n) => `- ${n}`);
  return [`## ${suite.title}`, '', markdownTable(header, body), ...(notes.length > 0 ? ['', ...notes] : [])].join('\n');
}

function versusCell(line: PairedSamples, other: PairedSamples | undefined): string {
  if (other === undefined) return '-';
  const over = (side: keyof PairedSamples) => formatRatio(median(line[side]) / median(other[side]));
  return `plain ${over('plain')}, synced ${over('synced')}`;
}
