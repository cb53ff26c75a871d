// Loaded through NODE_OPTIONS by node-runtime.mjs: registers the hook that points better-sqlite3 at
// the build made for this Node.
import { register } from 'node:module';

register(new URL('./node-runtime-hooks.mjs', import.meta.url));
