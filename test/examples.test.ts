import { describe, expect, it } from 'vitest';
import { runDemo } from '../examples/demo.ts';
import { runManualExchange } from '../examples/manual-exchange.ts';

describe('examples', () => {
  it('npm run demo: two device processes sync over libp2p, live edits arrive, both exit cleanly', async () => {
    const lines: string[] = [];
    const result = await runDemo((line) => lines.push(line));
    expect(result.phone).toEqual(result.laptop);
    expect(result.laptop).toEqual([
      { id: 'call', title: 'Call mum', done: false },
      { id: 'dentist', title: 'Book dentist', done: false },
      { id: 'milk', title: 'Buy milk', done: true },
      { id: 'tax', title: 'File taxes', done: true },
    ]);
    // Announced together, so the phone's list printed after the announcement holds both edits.
    const announced = lines.indexOf('live: the laptop ticks off "milk" and adds "Book dentist"');
    expect(announced).toBeGreaterThanOrEqual(0);
    expect(lines[announced + 1]).toMatch(/^ {2}on the phone .*\[x\] Buy milk/);
    expect(lines[announced + 1]).toContain('[ ] Book dentist');
    expect(lines).toContain('both devices stopped (exit codes 0, 0)');
    expect(lines.at(-1)).toBe('laptop and phone are identical');
  }, 60_000);

  it('the manual exchange converges both devices with both concurrent edits kept', () => {
    const lines: string[] = [];
    const result = runManualExchange((line) => lines.push(line));
    expect(result.phone).toEqual(result.laptop);
    expect(result.laptop).toEqual([
      { id: 'milk', title: 'Buy oat milk', done: true },
      { id: 'tax', title: 'File taxes', done: false },
    ]);
    expect(lines.at(-1)).toBe('laptop and phone are identical');
  });
});
