#!/usr/bin/env node
// The `ahenk` command: the package ships TypeScript, so tsx compiles it on the fly. Only this file
// exits the process; src/cli/main.ts's run() returns the exit code.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

// The package's own tsconfig, whatever the working directory is (another project's must not apply).
const tsconfig = fileURLToPath(new URL('../tsconfig.json', import.meta.url));
register({ tsconfig: existsSync(tsconfig) ? tsconfig : false });

const { run, processIo } = await import('../src/cli/main.ts');
const code = await run(process.argv.slice(2), processIo());
// Pipes are asynchronous on some platforms: let the last lines out before exiting.
await Promise.all([process.stdout, process.stderr].map((stream) => new Promise((resolve) => stream.write('', resolve))));
// A stopped libp2p node can leave a timer or socket behind; the command is done, so exit now.
process.exit(code);
