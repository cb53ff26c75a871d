#!/usr/bin/env node
// The `ahenk` command. Which code it runs:
// - in a checkout (../src/cli/main.ts exists next to this file) it runs the TypeScript sources
//   through tsx, a devDependency, so developers and the CLI tests always run what they edit and
//   never a stale dist/;
// - in an installed package (no src/ is published) it runs the compiled ../dist/cli/main.js with
//   plain Node; tsx is not a dependency of the published package and is never loaded.
// Only this file exits the process; main's run() returns the exit code.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const sources = new URL('../src/cli/main.ts', import.meta.url);
let main;
if (existsSync(fileURLToPath(sources))) {
  const { register } = await import('tsx/esm/api');
  // The package's own tsconfig, whatever the working directory is (another project's must not apply).
  const tsconfig = fileURLToPath(new URL('../tsconfig.json', import.meta.url));
  register({ tsconfig: existsSync(tsconfig) ? tsconfig : false });
  main = await import(sources.href);
} else {
  main = await import('../dist/cli/main.js');
}

const code = await main.run(process.argv.slice(2), main.processIo());
// Pipes are asynchronous on some platforms: let the last lines out before exiting.
await Promise.all([process.stdout, process.stderr].map((stream) => new Promise((resolve) => stream.write('', resolve))));
// A stopped libp2p node can leave a timer or socket behind; the command is done, so exit now.
process.exit(code);
