/**
 * `npm run fuzz -- --format vhd --time 30s [--runs N] [--seed S] [--findings DIR]`:
 * runs one format's fuzz target (or every format with `--format all`) and
 * prints the counts; exits 1 when there was a finding. See docs/security.md.
 */
import { parseArgs } from 'node:util';
import { fuzzTarget, type FuzzReport } from './harness.js';
import { FUZZ_TARGETS, type FuzzTarget } from './seeds.js';

/** "30s", "10m", "500ms" or plain milliseconds, in milliseconds. */
function duration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text);
  if (!m) fail(`--time: cannot read '${text}' (examples: 30s, 10m)`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h'];
}

/** One line of counts for a report. */
function summary(r: FuzzReport): string {
  const refused = [...r.refused].map(([code, n]) => `${code} ${n}`).join(', ');
  const kinds = ['crash', 'hang', 'memory'].map((k) => `${k} ${r.findings.filter((f) => f.kind === k).length}`).join(', ');
  return `${r.target}: ${r.mutants} mutants of ${r.seeds} seeds in ${(r.ms / 1000).toFixed(1)} s (${Math.round(r.mutants / (r.ms / 1000 || 1))}/s): opened ${r.opened}, refused ${refused || 'none'}; ${r.covered} blocks covered, ${r.kept} mutants kept; findings: ${kinds}`;
}

/** What --help prints. */
const USAGE = `usage: npm run fuzz -- [--format all|${FUZZ_TARGETS.join('|')}] [--time 30s|10m] [--runs N] [--seed S] [--findings DIR]
  --format    the target to run (default all, one after the other)
  --time      how long each target runs (default 30s unless --runs is given)
  --runs      stop each target after N mutants (with the same --seed, a run repeats exactly)
  --seed      the random seed (default 1)
  --findings  where each finding's files and report are written (default fuzz-findings)
VDISK_REAL_FIXTURES=DIR adds the images in DIR (up to 64 MiB each) to the format targets' seeds.
SIGINT or SIGTERM stops the run after the running batch and prints the counts so far.
Exit status: 0 no finding, 1 a finding, 2 bad arguments. See docs/security.md.`;

/** Prints `message` and the usage, and exits 2. */
function fail(message: string): never {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}

/** The command line, parsed; bad arguments print the usage and exit 2. */
function args() {
  try {
    return parseArgs({
      options: { format: { type: 'string', default: 'all' }, time: { type: 'string' }, runs: { type: 'string' }, seed: { type: 'string', default: '1' }, findings: { type: 'string', default: 'fuzz-findings' }, help: { type: 'boolean', short: 'h' } },
    }).values;
  } catch (err) {
    fail((err as Error).message);
  }
}

const values = args();
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const chosen = values.format === 'all' ? [...FUZZ_TARGETS] : [values.format as FuzzTarget];
if (chosen.some((f) => !FUZZ_TARGETS.includes(f))) fail(`--format must be all or one of ${FUZZ_TARGETS.join(', ')}`);
if (values.runs !== undefined && !/^\d+$/.test(values.runs)) fail(`--runs: '${values.runs}' is not a count`);
if (!/^\d+$/.test(values.seed)) fail(`--seed: '${values.seed}' is not a number`);
const timeMs = values.time !== undefined ? duration(values.time) : values.runs === undefined ? 30_000 : undefined;
console.log(`seed ${values.seed} (rerun with --seed ${values.seed} and the same --runs to repeat a run)`);
// A long run stopped by a signal still prints what it counted: the running target stops after its batch, the others do not start.
const stop = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => stop.abort());
let findings = 0;
for (const format of chosen) {
  if (stop.signal.aborted) break;
  const report = await fuzzTarget(format, { seed: Number(values.seed), runs: values.runs === undefined ? undefined : Number(values.runs), timeMs, findingsDir: values.findings, realSeeds: process.env.VDISK_REAL_FIXTURES, signal: stop.signal });
  console.log(`${summary(report)}${stop.signal.aborted ? ' (stopped by a signal)' : ''}`);
  for (const f of report.findings) console.log(`  ${f.kind} #${f.index} (${f.seed}): ${f.steps.join('; ')}\n    ${f.detail.split('\n').slice(0, 3).join('\n    ')}`);
  findings += report.findings.length;
}
if (findings > 0) {
  console.log(`${findings} finding(s) written under ${values.findings}/`);
  process.exitCode = 1;
}
