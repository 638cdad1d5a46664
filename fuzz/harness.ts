import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { prng } from '../test/helpers/prng.js';
import { Exerciser } from './exercise.js';
import { mutate } from './mutate.js';
import { seedsFor, type FuzzFormat } from './seeds.js';

/** How long and how one target runs. */
export interface FuzzBudget {
  seed: number;
  /** Stop after this many mutants. */
  runs?: number;
  /** Stop after this many milliseconds. */
  timeMs?: number;
  /** Write each finding here (mutant files, steps, stack); none: findings are only counted. */
  findingsDir?: string;
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
  format: FuzzFormat;
  seeds: number;
  mutants: number;
  opened: number;
  refused: Map<string, number>;
  findings: Finding[];
  ms: number;
}

/** Writes a finding's mutant files and its report (steps, stack) under `dir`/<format>-<index>-<kind>/. */
function record(dir: string, format: FuzzFormat, finding: Finding, files: Map<string, Uint8Array>): void {
  const at = join(dir, `${format}-${finding.index}-${finding.kind}`);
  mkdirSync(at, { recursive: true });
  for (const [name, bytes] of files) writeFileSync(join(at, name), bytes);
  writeFileSync(join(at, 'finding.txt'), `seed image: ${finding.seed}\nsteps:\n${finding.steps.map((s) => `  ${s}`).join('\n')}\n\n${finding.detail}\n`);
}

/**
 * Runs one format's target: mutants of its seeds, chosen round-robin, each
 * opened from memory and exercised, until `runs` mutants or `timeMs` have
 * passed (at least one must be given). Deterministic for a given seed and
 * run count.
 */
export async function fuzzFormat(format: FuzzFormat, budget: FuzzBudget): Promise<FuzzReport> {
  const seeds = await seedsFor(format);
  const rand = prng(budget.seed);
  const exerciser = new Exerciser();
  const report: FuzzReport = { format, seeds: seeds.length, mutants: 0, opened: 0, refused: new Map(), findings: [], ms: 0 };
  const start = Date.now();
  const runs = budget.runs ?? Infinity;
  const until = budget.timeMs === undefined ? Infinity : start + budget.timeMs;
  try {
    while (report.mutants < runs && Date.now() < until) {
      const seed = seeds[report.mutants % seeds.length]!;
      const mutant = mutate(format, seed, rand);
      const outcome = await exerciser.exercise(mutant.files, mutant.top);
      if (outcome.kind === 'ok') report.opened++;
      else if (outcome.kind === 'refused') report.refused.set(outcome.code, (report.refused.get(outcome.code) ?? 0) + 1);
      else {
        const finding: Finding = { kind: outcome.kind, index: report.mutants, seed: seed.name, steps: mutant.steps, detail: outcome.detail };
        report.findings.push(finding);
        if (budget.findingsDir) record(budget.findingsDir, format, finding, mutant.files);
      }
      report.mutants++;
    }
  } finally {
    await exerciser.close();
  }
  report.ms = Date.now() - start;
  return report;
}
