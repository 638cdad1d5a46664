/**
 * The fuzz worker thread: exercises each mutant the harness posts (files and
 * top name) in its own memory sandbox and posts back the outcome, so the
 * harness can terminate it when a mutant hangs, even in a synchronous loop.
 * Its stub directory (workerData.dir) is the harness's to remove.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { exerciseInSandbox, type MutantMessage } from './exercise.js';
import { MemorySandbox } from './sandbox.js';

const sandbox = new MemorySandbox((workerData as { dir: string }).dir);
const port = parentPort!;
port.on('message', (m: MutantMessage) => {
  void exerciseInSandbox(sandbox, sandbox.load(new Map(m.files), m.top)).then((outcome) => port.postMessage(outcome));
});
