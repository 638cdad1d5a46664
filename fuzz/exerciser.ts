import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { BatchItem, BatchMessage, Outcome } from './exercise.js';
import type { FuzzTarget } from './seeds.js';

/** A mutant that ran longer than this (in ms) is a hang. */
export const HANG_MS = 5000;

/** Memory (MiB) over which a mutant counts as eating it: the worker's heap limit, and its heap plus external memory checked after each run. */
export const MEMORY_LIMIT_MB = 512;

/** Mutants one worker runs before a fresh one replaces it (after a batch, so after a coverage take), which bounds what V8's coverage data grows to. */
const RECYCLE_AFTER = 4000;

/** How often (ms) the harness looks at the running mutant's clock. */
const WATCH_MS = 100;

/**
 * Growth of the process's RSS during one batch over which the running
 * mutant is a memory finding at once. The worker's heap limit does not bound
 * ArrayBuffers, and the check after each run comes too late for a mutant
 * that keeps allocating: in session 14 a VHDX run grew to 24 GB and the
 * kernel's OOM killer ended it with nothing recorded. Far above
 * MEMORY_LIMIT_MB, since the RSS also holds memory earlier workers left to
 * the allocator.
 */
export const RSS_GROWTH_LIMIT = 4 * 1024 * 1024 * 1024;

/**
 * RSS growth past which the worker is replaced after its batch. A VHDX run
 * with the 36 MiB real seed grew by about 1 GB every 20 s, and ending the
 * worker gave the memory back (a run of seed 1402 then stayed between 2.2
 * and 8.4 GB instead of reaching 24 GB). Measured from the RSS after the
 * last such replacement, so a process whose allocator keeps freed memory
 * does not replace its worker after every batch (measured from the start,
 * it did, and the run fell to 12 mutants a second).
 */
const RSS_RECYCLE = 2 * 1024 * 1024 * 1024;

/** Slots of the progress array the worker writes: the index in its batch of the mutant it runs, and since when (Date.now(), 0 when none runs). */
export const PROGRESS_AT = 0;
/** See PROGRESS_AT. */
export const PROGRESS_SINCE = 1;

/** Where the worker runs (the worker.ts of the harness unless a test gives its own), after how many ms a mutant is a hang, and how much RSS growth (bytes) makes it a memory finding mid-run. */
export interface ExerciserOptions {
  workerUrl?: URL;
  hangMs?: number;
  rssGrowthLimit?: number;
}

/** What a batch posted to one worker came back with: every outcome, or the mutant that hung or killed the worker. */
type Answer = { outcomes: Outcome[] } | { at: number; finding: Outcome };

/**
 * Runs batches of mutants in a worker thread (worker.ts) with a heap limit
 * of MEMORY_LIMIT_MB. One message goes each way per batch (a round trip
 * per mutant cost a millisecond on the loaded machine); the worker writes
 * which mutant runs and since when into shared memory, and one running for
 * more than HANG_MS is a hang, even in a synchronous loop (the worker is
 * terminated and a new one started). One that kills the worker (out of
 * memory) is a memory finding, as is a worker holding more than the limit
 * after a run. The other mutants of such a batch run again on the new
 * worker. The worker's own memory is measured, not the process RSS: the
 * RSS also holds what workers replaced earlier left to the allocator, and
 * it crossed the limit with no mutant to blame (docs/security.md).
 */
export class Exerciser {
  /** Blocks of vdisk's code committed as seen by any worker: a new worker starts from them, so a replacement does not make old blocks look new. */
  readonly seen = new Set<string>();
  /** The worker's progress (PROGRESS_AT, PROGRESS_SINCE). */
  private readonly progress = new Float64Array(new SharedArrayBuffer(2 * Float64Array.BYTES_PER_ELEMENT));
  /** The current worker's stub directory. */
  private dir = '';
  /** Resolves when the current worker has loaded vdisk and started counting coverage (its 'ready' message). */
  private ready: Promise<void> = Promise.resolve();
  private worker?: Worker;
  /** Mutants the current worker has run. */
  private runs = 0;
  /** The process's RSS when the exerciser was made, or when RSS_RECYCLE last replaced the worker. */
  private rssBase = process.memoryUsage.rss();

  constructor(private readonly options: ExerciserOptions = {}) {}

  /** Starts a worker over a new stub directory. */
  private spawn(): Worker {
    this.dir = mkdtempSync(join(tmpdir(), 'vdisk-fuzz-'));
    this.progress[PROGRESS_SINCE] = 0;
    const workerData = { dir: this.dir, seen: [...this.seen], progress: this.progress };
    const worker = new Worker(this.options.workerUrl ?? new URL('./worker.js', import.meta.url), { workerData, resourceLimits: { maxOldGenerationSizeMb: MEMORY_LIMIT_MB } });
    this.ready = new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
    });
    // A worker that fails before any mutant is posted to it must not end the process: post reports it.
    this.ready.catch(() => undefined);
    return worker;
  }

  /** Stops the worker and removes its stub directory. */
  private async stop(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.worker = undefined;
    await worker.terminate();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Stops the worker: the next batch starts a new one. */
  private async replace(): Promise<void> {
    this.runs = 0;
    await this.stop();
  }

  /** Posts one batch and waits for its outcomes, or for the mutant that hung or killed the worker (which is then replaced). */
  private async post(target: FuzzTarget, items: BatchItem[]): Promise<Answer> {
    const worker = (this.worker ??= this.spawn());
    // The hang clock starts once the worker is up: loading vdisk on a busy machine took over HANG_MS and was reported as the first mutant's hang.
    const failed = await this.ready.then(
      () => undefined,
      (err: Error): Outcome => ({ kind: 'crash', detail: `worker failed to start: ${err.stack ?? err.message}` }),
    );
    const hangMs = this.options.hangMs ?? HANG_MS;
    const rssLimit = process.memoryUsage.rss() + (this.options.rssGrowthLimit ?? RSS_GROWTH_LIMIT);
    let watch: NodeJS.Timeout | undefined;
    const answer: Answer = failed ? { at: 0, finding: failed } : await new Promise<Answer>((resolve) => {
      watch = setInterval(() => {
        const since = this.progress[PROGRESS_SINCE]!;
        if (since > 0 && Date.now() - since > hangMs) resolve({ at: this.progress[PROGRESS_AT]!, finding: { kind: 'hang', detail: `no answer after ${hangMs} ms` } });
        const rss = process.memoryUsage.rss();
        if (since > 0 && rss > rssLimit) resolve({ at: this.progress[PROGRESS_AT]!, finding: { kind: 'memory', detail: `the process grew to ${rss} bytes while the mutant ran (ArrayBuffers, outside the worker's heap limit)` } });
      }, WATCH_MS);
      worker.once('message', (outcomes: Outcome[]) => resolve({ outcomes }));
      worker.once('error', (err) => resolve({ at: this.progress[PROGRESS_AT]!, finding: { kind: err.message.includes('memory') ? 'memory' : 'crash', detail: `worker died: ${err.stack ?? err.message}` } }));
      worker.postMessage({ target, items } satisfies BatchMessage);
    });
    clearInterval(watch);
    worker.removeAllListeners('message').removeAllListeners('error');
    if ('at' in answer) await this.replace();
    return answer;
  }

  /** Exercises mutants of `target` in order, each taking coverage as its item says; returns their outcomes, in order. */
  async exercise(target: FuzzTarget, items: BatchItem[]): Promise<Outcome[]> {
    const outcomes: Outcome[] = new Array<Outcome>(items.length);
    let pending = items.map((_, i) => i);
    while (pending.length > 0) {
      const answer = await this.post(target, pending.map((i) => items[i]!));
      if ('outcomes' in answer) {
        answer.outcomes.forEach((o, k) => (outcomes[pending[k]!] = o));
        break;
      }
      // The mutants before this one lost their outcomes with the worker: they run again with those after it.
      outcomes[pending[answer.at]!] = answer.finding;
      pending = pending.filter((_, k) => k !== answer.at);
    }
    items.forEach((item, i) => {
      if (item.coverage === 'commit') for (const key of outcomes[i]!.fresh ?? []) this.seen.add(key);
    });
    this.runs += items.length;
    // Replaced after a batch, whose last mutant took coverage, so no run's coverage is lost with the worker.
    if (process.memoryUsage.rss() > this.rssBase + RSS_RECYCLE) {
      await this.replace();
      this.rssBase = process.memoryUsage.rss();
    } else if (outcomes.some((o) => o.kind === 'crash') || this.runs >= RECYCLE_AFTER) await this.replace();
    return outcomes.map((o): Outcome => {
      const held = o.memory ?? 0;
      if ((o.kind === 'ok' || o.kind === 'refused') && held > MEMORY_LIMIT_MB * 1024 * 1024) return { kind: 'memory', detail: `the worker held ${held} bytes (heap and external memory) after the run` };
      return o;
    });
  }

  /** Stops the worker and removes its stub directory. */
  close(): Promise<void> {
    return this.stop();
  }
}
