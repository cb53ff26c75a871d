/// <reference lib="dom" />
// Starts the bench worker and exposes its result to the driver (bench/browser.ts).
const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
Object.assign(globalThis, {
  runBench: (rows: number, mergeRows: number, rounds: number) =>
    new Promise((resolve) => {
      worker.onmessage = (event) => resolve(event.data);
      worker.postMessage({ rows, mergeRows, rounds });
    }),
});
document.body.dataset.ready = 'true';
