/**
 * Node scripts run inside a test's network namespaces (`ip netns exec NS node --import tsx
 * script.ts '<json options>'`): each prints one JSON object per line (`{ event, ... }`) and reads
 * commands (`stop`, ...) on stdin. Shared by test/net/{mdns,reachability,nat}.test.ts: the skip
 * notice, spawning and collecting events, the failure report, stopping and killing.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The checkout's root: scripts run from there so `--import tsx` resolves. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ScriptEvent {
  event: string;
  [field: string]: unknown;
}

export interface ScriptChild {
  process: ChildProcessWithoutNullStreams;
  events: ScriptEvent[];
  stderr: string[];
  exited: Promise<number | null>;
}

/** Prints why a namespace test file is skipped (vitest shows a skip, not the reason) and returns the reason. */
export function announceSkip(file: string, reason: string | undefined): string | undefined {
  if (reason !== undefined) console.warn(`${file} skipped: ${reason}`);
  return reason;
}

/** The arguments that run `script` with `options` under Node with tsx. */
export function scriptArgs(script: string, options: Record<string, unknown>): string[] {
  return ['--import', 'tsx', script, JSON.stringify(options)];
}

/** Collects a spawned script's JSON lines (an unparsable line is kept as `unparsed`) and its stderr. */
export function collectScript(child: ChildProcessWithoutNullStreams): ScriptChild {
  const events: ScriptEvent[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    try {
      events.push(JSON.parse(line) as ScriptEvent);
    } catch {
      events.push({ event: 'unparsed', line });
    }
  });
  createInterface({ input: child.stderr }).on('line', (line) => stderr.push(line));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { process: child, events, stderr, exited };
}

export const findEvent = (child: ScriptChild, event: string): ScriptEvent | undefined => child.events.find((e) => e.event === event);
export const hasEvent = (child: ScriptChild, event: string): boolean => findEvent(child, event) !== undefined;

/** Every child's events (the last `last` of each) and stderr, for a failure message. */
export function reportChildren(children: readonly ScriptChild[], last = Infinity): string {
  return children.map((c, i) => `child ${i}: ${JSON.stringify(c.events.slice(-Math.min(last, c.events.length)))}\n${c.stderr.join('\n')}`).join('\n');
}

/** Asks a script to stop; resolves with its exit code, or 'hung' when it has not exited within `timeoutMs`. */
export function stopScript(child: ScriptChild, timeoutMs = 10_000): Promise<number | null | 'hung'> {
  if (child.process.exitCode !== null) return Promise.resolve(child.process.exitCode);
  child.process.stdin.write('stop\n');
  return Promise.race([child.exited, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), timeoutMs).unref())]);
}

/** Kills every child still running (a test's `finally`): no process outlives its test. */
export function killScripts(children: readonly ScriptChild[]): void {
  for (const child of children) if (child.process.exitCode === null) child.process.kill('SIGKILL');
}
