import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { prng } from '../test/helpers/prng.js';
import type { BatchItem, CoverageTake, Outcome } from './exercise.js';
import { Exerciser } from './exerciser.js';
import { mutate, type Mutant } from './mutate.js';
import { SharedPool } from './shared-pool.js';
import { backupSeeds } from './backup-seeds.js';
import { nbdSeeds } from './nbd-transcript.js';
import { seedsFor, type FuzzTarget, type Seed } from './seeds.js';

/** How long and how one target runs. */
export interface FuzzBudget {
  seed: number;
  /** Stop after this many mutants. */
  runs?: number;
  /** Stop after this many milliseconds. */
  timeMs?: number;
  /** Write each finding here (mutant files, steps, stack); none: findings are only counted. */
  findingsDir?: string;
  /** A directory of real images to seed the format targets with too (VDISK_REAL_FIXTURES for `npm run fuzz`). */
  realSeeds?: string;
  /** Stop after the running batch when this aborts (`npm run fuzz` aborts it on SIGINT and SIGTERM, then prints the counts so far). */
  signal?: AbortSignal;
}

/** A finding: what kind, which mutant, how it was made, what happened. */
export interface Finding {
  kind: 'crash' | 'hang' | 'memory';
  index: number;
  seed: string;
  steps: string[];
  detail: string;
}

/** The counts of one target's run. */
export interface FuzzReport {
  target: FuzzTarget;
  seeds: number;
  mutants: number;
  opened: number;
  refused: Map<string, number>;
  findings: Finding[];
  /** Mutants kept as seeds because they reached new code. */
  kept: number;
  /** Blocks of vdisk's code the target's runs reached (V8 block coverage). */
  covered: number;
  ms: number;
}

/** Most mutants kept as seeds in one run; past it, a new one replaces a random one. */
const CORPUS_CAP = 256;

/**
 * Most bytes the kept mutants' files may hold together; past it, random ones
 * are dropped for a new one. Without it the corpus grew with the seeds'
 * sizes: mutants of the 36 MiB real VHDX seed took a session-14 run to 24 GB
 * of RSS before the kernel's OOM killer ended it with nothing recorded.
 */
const CORPUS_BYTES = 1024 * 1024 * 1024;

/** Bytes of a seed's files. */
const seedBytes = (s: Seed): number => [...s.files.values()].reduce((n, f) => n + f.length, 0);

/** Writes a finding's mutant files (a backup repository's in their folders) and its report (steps, stack) under `dir`/<target>-<index>-<kind>/; returns that folder. */
export function record(dir: string, target: FuzzTarget, finding: Finding, files: Map<string, Uint8Array>): string {
  const at = join(dir, `${target}-${finding.index}-${finding.kind}`);
  mkdirSync(at, { recursive: true });
  for (const [name, bytes] of files) {
    mkdirSync(dirname(join(at, name)), { recursive: true });
    writeFileSync(join(at, name), bytes);
  }
  writeFileSync(join(at, 'finding.txt'), `seed image: ${finding.seed}\nsteps:\n${finding.steps.map((s) => `  ${s}`).join('\n')}\n\n${finding.detail}\n`);
  return at;
}

/** The seeds of `target`: transcripts for nbd, a repository for backup, images for a format. */
function seedsOf(target: FuzzTarget, realDir: string | undefined): Promise<Seed[]> {
  if (target === 'nbd') return Promise.resolve(nbdSeeds());
  if (target === 'backup') return backupSeeds();
  return seedsFor(target, realDir);
}

/**
 * Mutants run between coverage takes: a take (3-4 ms, more than most
 * mutants) is paid once a batch, and only a batch that reached new code is
 * run again, a mutant at a time with a take after each, to find which ones
 * did. Bigger batches were slower for large seeds: each mutant of a batch
 * holds its own shared buffers (docs/security.md).
 */
const BATCH = 8;

/** A mutant and the seed it was made from. */
interface Made {
  seed: Seed;
  mutant: Mutant;
}

/**
 * Runs one target, coverage-guided: each mutant is made from a seed (taken
 * round-robin) or, half the time once there are some, from a kept mutant;
 * it is exercised in the worker, and kept when it ran vdisk code no earlier
 * mutant ran (coverage is taken once per BATCH mutants; a batch that reached
 * new code is run again a mutant at a time). Each batch is made while the
 * worker runs the one before. Runs until `runs` mutants or `timeMs` have
 * passed (at least one must be given). Deterministic for a given seed and
 * run count.
 */
export async function fuzzTarget(target: FuzzTarget, budget: FuzzBudget): Promise<FuzzReport> {
  const pool = new SharedPool();
  const seeds = await seedsOf(target, budget.realSeeds);
  for (const s of seeds) pool.share(s.files);
  const rand = prng(budget.seed);
  const exerciser = new Exerciser();
  const report: FuzzReport = { target, seeds: seeds.length, mutants: 0, opened: 0, refused: new Map(), findings: [], kept: 0, covered: 0, ms: 0 };
  const corpus: Seed[] = [];
  const start = Date.now();
  const runs = budget.runs ?? Infinity;
  const until = budget.timeMs === undefined ? Infinity : start + budget.timeMs;
  /** Mutant `index`: from a seed, taken round-robin, or half the time a kept mutant. */
  const make = (index: number): Made => {
    const seed = corpus.length > 0 && rand() < 0.5 ? corpus[Math.floor(rand() * corpus.length)]! : seeds[index % seeds.length]!;
    const mutant = mutate(target, seed, rand, pool);
    mutant.steps.unshift(...(seed.steps ?? []));
    return { seed, mutant };
  };
  /** Records a crash, hang or memory finding; returns false for one, true for a mutant that opened or was refused. */
  const judged = ({ seed, mutant }: Made, outcome: Outcome, index: number): boolean => {
    if (outcome.kind === 'ok' || outcome.kind === 'refused') return true;
    const finding: Finding = { kind: outcome.kind, index, seed: seed.name, steps: mutant.steps, detail: outcome.detail };
    report.findings.push(finding);
    if (budget.findingsDir) record(budget.findingsDir, target, finding, mutant.files);
    return false;
  };
  let corpusBytes = 0;
  /** Adds a mutant to the corpus, first dropping random ones while it holds CORPUS_CAP mutants or the new one would take it past CORPUS_BYTES. */
  const keep = ({ seed, mutant }: Made): void => {
    const kept: Seed = { name: seed.name, top: mutant.top, files: mutant.files, steps: mutant.steps };
    const bytes = seedBytes(kept);
    while (corpus.length > 0 && (corpus.length >= CORPUS_CAP || corpusBytes + bytes > CORPUS_BYTES)) {
      const [dropped] = corpus.splice(Math.floor(rand() * corpus.length), 1);
      corpusBytes -= seedBytes(dropped!);
    }
    corpus.push(kept);
    corpusBytes += bytes;
    report.kept++;
  };
  /** Gives a mutant's pooled files back. */
  const release = ({ mutant }: Made): void => {
    for (const bytes of mutant.made) pool.release(bytes);
  };
  /** The batch's mutants as worker items, each taking coverage as `take` says for its index. */
  const itemsOf = (batch: Made[], take: (k: number) => CoverageTake): BatchItem[] => batch.map(({ mutant }, k) => ({ files: [...mutant.files], top: mutant.top, coverage: take(k) }));
  /** Runs each mutant of a batch that reached new code again, taking coverage after each: keeps those that reached new code, releases the others. */
  const attribute = async (batch: Made[]): Promise<void> => {
    const outcomes = await exerciser.exercise(target, itemsOf(batch, () => 'commit'));
    batch.forEach((made, k) => {
      const outcome = outcomes[k]!;
      if (!judged(made, outcome, report.mutants)) return;
      if ((outcome.fresh?.length ?? 0) > 0) keep(made);
      else release(made);
    });
  };
  /** Up to BATCH new mutants, the first numbered `first`, as many as the run has left. */
  const batchFrom = (first: number): Made[] => Array.from({ length: Math.max(0, Math.min(BATCH, runs - first)) }, (_, k) => make(first + k));
  let next: Made[] = [];
  try {
    next = batchFrom(0);
    while (next.length > 0 && Date.now() < until && !budget.signal?.aborted) {
      const batch = next;
      const running = exerciser.exercise(target, itemsOf(batch, (k) => (k === batch.length - 1 ? 'probe' : 'none')));
      // The next batch is made while the worker runs this one (from the corpus as it stood before this one's outcomes).
      next = batchFrom(report.mutants + batch.length);
      const outcomes = await running;
      const clean: Made[] = [];
      batch.forEach((made, k) => {
        const outcome = outcomes[k]!;
        if (outcome.kind === 'ok') report.opened++;
        else if (outcome.kind === 'refused') report.refused.set(outcome.code, (report.refused.get(outcome.code) ?? 0) + 1);
        if (judged(made, outcome, report.mutants)) clean.push(made);
        report.mutants++;
      });
      // Only a batch that reached new code runs again, to find which of its mutants did.
      if ((outcomes.at(-1)!.fresh?.length ?? 0) > 0) await attribute(clean);
      else clean.forEach(release);
    }
  } finally {
    next.forEach(release);
    await exerciser.close();
  }
  report.covered = exerciser.seen.size;
  report.ms = Date.now() - start;
  return report;
}
