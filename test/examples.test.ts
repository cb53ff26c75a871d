import { describe, expect, it } from 'vitest';
import { runDemo } from '../examples/demo.ts';

describe('examples', () => {
  it('the demo converges both devices with both concurrent edits kept', () => {
    const lines: string[] = [];
    const result = runDemo((line) => lines.push(line));
    expect(result.phone).toEqual(result.laptop);
    expect(result.laptop).toEqual([
      { id: 'milk', title: 'Buy oat milk', done: true },
      { id: 'tax', title: 'File taxes', done: false },
    ]);
    expect(lines.at(-1)).toBe('laptop and phone are identical');
  });
});
