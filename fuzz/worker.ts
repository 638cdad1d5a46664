/**
 * The fuzz worker thread: exercises each batch of mutants the harness posts
 * and posts back their outcomes, each with the new blocks of vdisk's code
 * run since the last take when its item asks for a take (coverage.ts), so
 * the harness keeps mutants that reach new code. Which mutant runs, and
 * since when, it writes to shared memory (workerData.progress), so the
 * harness can terminate it when one hangs, even in a synchronous loop.
 * The blocks seen before it started come in workerData.seen. It posts
 * 'ready' once loaded and counting, before the first outcome. Image
 * mutants open in a memory sandbox, NBD transcripts go to one NbdRig,
 * backup repositories to a memory store. Its stub directory
 * (workerData.dir) is the harness's to remove.
 */
import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { exerciseBackup } from './backup-exercise.js';
import { CoverageTracker } from './coverage.js';
import { exerciseInSandbox, judge, type BatchItem, type BatchMessage, type Outcome } from './exercise.js';
import { PROGRESS_AT, PROGRESS_SINCE } from './exerciser.js';
import { NbdRig } from './nbd-exercise.js';
import { TRANSCRIPT } from './nbd-transcript.js';
import { MemorySandbox } from './sandbox.js';
import type { FuzzTarget } from './seeds.js';

const { dir, seen, progress } = workerData as { dir: string; seen: string[]; progress: Float64Array };
const sandbox = new MemorySandbox(dir);
let rig: Promise<NbdRig> | undefined;

/** Runs one mutant of `target`. */
function exercise(target: FuzzTarget, item: BatchItem): Promise<Outcome> {
  const files = new Map(item.files);
  if (target === 'nbd') {
    rig ??= NbdRig.start(dir);
    const transcript = files.get(TRANSCRIPT) ?? new Uint8Array(0);
    return rig.then((r) => r.run(transcript), (err: unknown) => judge(Promise.reject(err)));
  }
  if (target === 'backup') return judge(exerciseBackup(files));
  return exerciseInSandbox(sandbox, sandbox.load(files, item.top));
}

const coverage = new CoverageTracker(seen);

/** Runs a batch's mutants in order, saying in `progress` which one runs and since when, each followed by its coverage take. */
async function run(m: BatchMessage): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  for (const [i, item] of m.items.entries()) {
    progress[PROGRESS_AT] = i;
    progress[PROGRESS_SINCE] = Date.now();
    const outcome = await exercise(m.target, item);
    // V8's heap statistics, not process.memoryUsage(), which also reads the RSS from /proc (a third of a millisecond a mutant).
    const { used_heap_size: heap, external_memory: external } = getHeapStatistics();
    const fresh = item.coverage === 'none' ? undefined : await coverage.take(item.coverage === 'commit');
    outcomes.push({ ...outcome, fresh, memory: heap + external });
  }
  progress[PROGRESS_SINCE] = 0;
  return outcomes;
}

const started = coverage.start();
const port = parentPort!;
void started.then(() => port.postMessage('ready'));
port.on('message', (m: BatchMessage) => {
  void started.then(() => run(m)).then((outcomes) => port.postMessage(outcomes));
});
