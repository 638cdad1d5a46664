/**
 * The fuzz worker thread: exercises each mutant the harness posts and posts
 * back the outcome, so the harness can terminate it when a mutant hangs,
 * even in a synchronous loop, with the new blocks of vdisk's code run since
 * the last take when the message asks for a take (coverage.ts), so the
 * harness keeps mutants that reach new code; the blocks seen before it
 * started come in workerData.seen. It posts 'ready' once loaded and
 * counting, before the first outcome. Image mutants open in a memory
 * sandbox, NBD transcripts go to one NbdRig, backup repositories to a
 * memory store. Its stub directory (workerData.dir) is the harness's to
 * remove.
 */
import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { exerciseBackup } from './backup-exercise.js';
import { CoverageTracker } from './coverage.js';
import { exerciseInSandbox, judge, type MutantMessage, type Outcome } from './exercise.js';
import { NbdRig } from './nbd-exercise.js';
import { TRANSCRIPT } from './nbd-transcript.js';
import { MemorySandbox } from './sandbox.js';

const { dir, seen } = workerData as { dir: string; seen: string[] };
const sandbox = new MemorySandbox(dir);
let rig: Promise<NbdRig> | undefined;

/** Runs one mutant of its target. */
function exercise(m: MutantMessage): Promise<Outcome> {
  const files = new Map(m.files);
  if (m.target === 'nbd') {
    rig ??= NbdRig.start(dir);
    const transcript = files.get(TRANSCRIPT) ?? new Uint8Array(0);
    return rig.then((r) => r.run(transcript), (err: unknown) => judge(Promise.reject(err)));
  }
  if (m.target === 'backup') return judge(exerciseBackup(files));
  return exerciseInSandbox(sandbox, sandbox.load(files, m.top));
}

const coverage = new CoverageTracker(seen);
const started = coverage.start();
const port = parentPort!;
void started.then(() => port.postMessage('ready'));
port.on('message', (m: MutantMessage) => {
  void started
    .then(() => exercise(m))
    .then(async (outcome): Promise<Outcome> => {
      // V8's heap statistics, not process.memoryUsage(), which also reads the RSS from /proc (a third of a millisecond a mutant).
      const { used_heap_size: heap, external_memory: external } = getHeapStatistics();
      const fresh = m.coverage === 'none' ? undefined : await coverage.take(m.coverage === 'commit');
      return { ...outcome, fresh, memory: heap + external };
    })
    .then((outcome) => port.postMessage(outcome));
});
