import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as ahenk from '../src/index.ts';
import * as schemaEntry from '../src/schema/index.ts';
import * as transportEntry from '../src/transport.ts';
import * as browserEntry from '../src/browser/index.ts';
import * as browserWorkerEntry from '../src/browser/worker-entry.ts';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('imports only names the package exports', () => {
    const imports = [...readme.matchAll(/import \{([^}]+)\} from '(ahenk(?:\/schema|\/browser|\/browser\/worker)?)'/g)];
    expect(imports.length).toBeGreaterThanOrEqual(5);
    const entries: Record<string, Record<string, unknown>> = { ahenk, 'ahenk/schema': schemaEntry, 'ahenk/browser': browserEntry, 'ahenk/browser/worker': browserWorkerEntry };
    for (const [, names, from] of imports) {
      const module = entries[from!]!;
      for (const name of names!.split(',').map((n) => n.trim()).filter(Boolean)) expect(module, `${name} from ${from}`).toHaveProperty(name);
    }
  });

  it('names in the API table are exported', () => {
    const table = readme.slice(readme.indexOf('## API'), readme.indexOf('## Layout'));
    const names = [...table.matchAll(/^\| `([A-Za-z]+)[(`]/gm)].map((m) => m[1]!);
    expect(names.length).toBeGreaterThan(8);
    for (const name of names) expect(ahenk, name).toHaveProperty(name);
  });

  it('names what ahenk/transport exports, and the root entry leaves the session to it', () => {
    const paragraph = readme.slice(readme.indexOf('`ahenk/transport` has'), readme.indexOf('## Performance'));
    const names = [...paragraph.matchAll(/`([A-Za-z_]+)[(`]/g)].map((m) => m[1]!);
    expect(names).toEqual(expect.arrayContaining(['runSyncSession', 'createMemoryChannelPair', 'SYNC_PROTOCOL']));
    for (const name of names) expect(transportEntry, name).toHaveProperty(name);
    expect(ahenk).not.toHaveProperty('runSyncSession');
  });

  it('gives the two set-up commands', () => {
    expect(readme).toContain('npm ci && npm run demo');
    expect(readme).toContain('npm ci && npm test');
  });

  it('names npm run demo:web, a script the package has and test/browser/demo-web.test.ts runs', () => {
    const scripts = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).scripts as Record<string, string>;
    expect(readme).toContain('`npm run demo:web`');
    expect(scripts['demo:web']).toMatch(/examples\/web\/demo\.ts$/);
    expect(readFileSync(new URL('./browser/demo-web.test.ts', import.meta.url), 'utf8')).toContain("spawn('npm', ['run', 'demo:web']");
  });
});
