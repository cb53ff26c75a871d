/**
 * The shell examples in README.md's CLI section and docs/cli.md name commands and flags that
 * exist, so renaming a flag without updating the docs fails here.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/cli/main.ts';
import type { CommandSpec } from '../../src/cli/spec.ts';

function read(path: string): string {
  return readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
}

/** `ahenk ...` lines of the ```sh blocks, without prompts, pipes into them, and comments. */
function exampleLines(markdown: string): string[] {
  const blocks = [...markdown.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  return blocks
    .flatMap((b) => b.split('\n'))
    .map((l) => l.replace(/^\$ /, '').replace(/^.*\| /, '').replace(/\s+#.*$/, '').trim())
    .filter((l) => l.startsWith('ahenk '));
}

function resolve(words: string[]): { spec: CommandSpec; rest: string[] } {
  let spec = COMMANDS;
  let at = 0;
  for (; at < words.length; at++) {
    const child = spec.commands?.find((c) => c.name === words[at]);
    if (child === undefined) break;
    spec = child;
  }
  return { spec, rest: words.slice(at) };
}

function longFlags(spec: CommandSpec): string[] {
  return (spec.options ?? []).map((o) => /--[a-z-]+/.exec(o.flags)![0]);
}

describe('CLI docs', () => {
  const sources = { 'README.md': read('README.md').split('## CLI')[1]!.split('\n## ')[0]!, 'docs/cli.md': read('docs/cli.md') };
  for (const [name, text] of Object.entries(sources)) {
    it(`${name}: every example names a real command and its real flags`, () => {
      const lines = exampleLines(text);
      expect(lines.length).toBeGreaterThanOrEqual(5);
      for (const line of lines) {
        const { spec, rest } = resolve(line.split(/\s+/).slice(1));
        expect(spec.run, `${line}: not a runnable command`).toBeDefined();
        const allowed = [...longFlags(spec), '--help', '--version'];
        for (const flag of rest.filter((w) => w.startsWith('--'))) expect(allowed, `${line}: ${flag}`).toContain(flag);
      }
    });
  }

  it('docs/cli.md has a section for every command', () => {
    const doc = read('docs/cli.md');
    const walk = (spec: CommandSpec, prefix: string): string[] =>
      spec.run ? [prefix] : (spec.commands ?? []).flatMap((c) => walk(c, `${prefix} ${c.name}`.trim()));
    for (const command of walk(COMMANDS, '')) expect(doc).toMatch(new RegExp(`^### \`ahenk ${command}[ \`]`, 'm'));
  });
});
