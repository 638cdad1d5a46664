/**
 * A stand-in for fuzz/worker.ts in exerciser.test.ts: it answers batches as
 * the real worker does, but by each item's `top`: 'spin' blocks forever (a
 * synchronous hang), 'eat' allocates until the heap limit kills the worker,
 * 'buffers' fills 64 MiB ArrayBuffers (outside the heap limit) up to 2 GiB,
 * slowly enough for the watchdog to see the RSS grow, then opens,
 * and any other name opens; a take reports the name as its one fresh block.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { BatchMessage, Outcome } from '../../fuzz/exercise.js';
import { PROGRESS_AT, PROGRESS_SINCE } from '../../fuzz/exerciser.js';

const { progress } = workerData as { progress: Float64Array };
const port = parentPort!;
port.on('message', (m: BatchMessage) => {
  const outcomes: Outcome[] = [];
  for (const [i, item] of m.items.entries()) {
    progress[PROGRESS_AT] = i;
    progress[PROGRESS_SINCE] = Date.now();
    if (item.top === 'spin') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
    const held: number[][] = [];
    while (item.top === 'eat') held.push(new Array<number>(1 << 20).fill(i));
    const buffers: Uint8Array[] = [];
    while (item.top === 'buffers' && buffers.length < 32) {
      buffers.push(new Uint8Array(64 << 20).fill(1));
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
    outcomes.push({ kind: 'ok', fresh: item.coverage === 'none' ? undefined : [item.top], memory: 0 });
  }
  progress[PROGRESS_SINCE] = 0;
  port.postMessage(outcomes);
});
port.postMessage('ready');
