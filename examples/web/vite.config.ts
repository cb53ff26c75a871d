// Vite for the web example. An app gets `ahenk/...` from the installed package; here the names
// point into this repository: the page side and the schema from src/, the database worker from the
// bundle `node scripts/build-browser.mjs` writes (what the package ships as ahenk/browser/worker).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const repo = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  resolve: {
    alias: [
      { find: /^ahenk\/browser\/worker$/, replacement: repo('dist/browser/worker.bundle.js') },
      { find: /^ahenk\/browser$/, replacement: repo('src/browser/index.ts') },
      { find: /^ahenk\/schema$/, replacement: repo('src/schema/index.ts') },
    ],
  },
  // sqlite-wasm finds its .wasm beside its own module: leave it out of the dev server's pre-bundling.
  optimizeDeps: { exclude: ['@sqlite.org/sqlite-wasm'] },
  worker: { format: 'es' },
  build: {
    target: 'es2022',
    outDir: 'dist',
    emptyOutDir: true,
    // A warning about slow plugins on a busy machine says nothing about the app.
    rolldownOptions: { checks: { bundlerTimings: false } },
  },
});
