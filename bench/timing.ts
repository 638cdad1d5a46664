/**
 * Running shell commands for the benchmark: checked execution, wall-clock
 * timing of `CMD && sync`, and peak RSS through GNU time.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';

/** GNU time, which reports the peak resident set size of the command it runs (package `time`). */
export const GNU_TIME = '/usr/bin/time';

/** Quotes one word for bash. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Joins argv into one bash command line. */
export function shellJoin(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}

/** Result of a command run through bash. */
export interface ShellResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs `bash -c script` and returns its status and output (never throws on exit status). */
export function runShell(script: string): ShellResult {
  const r = spawnSync('bash', ['-c', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 ** 2 });
  if (r.error) throw new Error(`bench: could not run bash -c ${shellQuote(script)}: ${r.error.message}`);
  return { status: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
}

/** Runs `bash -c script` and throws, with the command's output, unless it exits 0. */
export function runChecked(script: string): string {
  const r = runShell(script);
  if (r.status !== 0) throw new Error(`bench: command failed (exit ${r.status}): ${script}\n${r.stderr}${r.stdout}`.trimEnd());
  return r.stdout;
}

/** One timed run of a command. */
interface TimedRun {
  /** Wall-clock seconds of `CMD && sync`. */
  seconds: number;
  /** Peak resident set size of CMD in KiB, as GNU time reports it. */
  peakRssKiB: number;
}

/**
 * Times `CMD && sync` once, in a fresh bash, with process.hrtime.bigint().
 * CMD runs under GNU time (`-f %M`), whose own cost (one fork/exec) is the
 * same for every tool. `rssFile` is a scratch path for GNU time's report.
 * Throws unless the whole script exits 0.
 */
function timeCommand(argv: readonly string[], rssFile: string): TimedRun {
  const script = `${shellJoin([GNU_TIME, '-q', '-f', '%M', '-o', rssFile, ...argv])} && sync`;
  const start = process.hrtime.bigint();
  const r = runShell(script);
  const end = process.hrtime.bigint();
  if (r.status !== 0) throw new Error(`bench: timed command failed (exit ${r.status}): ${shellJoin(argv)}\n${r.stderr}${r.stdout}`.trimEnd());
  const report = readFileSync(rssFile, 'utf8').trim().split('\n').at(-1) ?? '';
  rmSync(rssFile, { force: true });
  const peakRssKiB = Number(report);
  if (!Number.isInteger(peakRssKiB) || peakRssKiB <= 0) throw new Error(`bench: GNU time reported no peak RSS for ${shellJoin(argv)}: '${report}'`);
  return { seconds: Number(end - start) / 1e9, peakRssKiB };
}

/** What timeRotations runs: tools by index, and how to get each run ready and clean up after it. */
export interface Rotation {
  /** Names the log lines (`LABEL run k/N TOOL: ...`). */
  label: string;
  tools: readonly { tool: string }[];
  /** Gets tool i's files ready for a run; returns the command to time. */
  prepare(i: number): readonly string[];
  /** After tool i's run `run` (of `rounds`) was timed and logged. */
  finish?(i: number, run: number, rounds: number): void;
  log(text: string): void;
}

/**
 * Times every tool `runs` times or a little more: whole rotations only, the
 * order rotated by one each round, so that every tool runs first equally
 * often (on this project's VM the first command of a round paid about 0.5 s
 * more, whichever tool it was). Returns seconds and peak RSS (KiB) per tool.
 */
export function timeRotations(runs: number, rssFile: string, r: Rotation): { seconds: number[][]; rss: number[][] } {
  const n = r.tools.length;
  const seconds = r.tools.map((): number[] => []);
  const rss = r.tools.map((): number[] => []);
  const rounds = Math.ceil(runs / n) * n;
  for (let run = 0; run < rounds; run++) {
    for (let k = 0; k < n; k++) {
      const i = (k + run) % n;
      const timed = timeCommand(r.prepare(i), rssFile);
      seconds[i]!.push(timed.seconds);
      rss[i]!.push(timed.peakRssKiB);
      r.log(`  ${r.label} run ${run + 1}/${rounds} ${r.tools[i]!.tool}: ${timed.seconds.toFixed(3)} s, ${(timed.peakRssKiB / 1024).toFixed(1)} MiB`);
      r.finish?.(i, run, rounds);
    }
  }
  return { seconds, rss };
}

/** Median of a non-empty list (mean of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('bench: median of nothing');
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Throws, naming what to install, unless every tool the benchmark runs is present. */
export function requireTools(): void {
  const missing: string[] = [];
  const check = (script: string, what: string): void => {
    if (runShell(script).status !== 0) missing.push(what);
  };
  check('command -v qemu-img', 'qemu-img (package qemu-utils)');
  check('command -v qemu-io', 'qemu-io (package qemu-utils)');
  check(`${GNU_TIME} -q -f %M true`, `GNU time at ${GNU_TIME} (package time)`);
  check('cp --sparse=always --version', 'GNU cp with --sparse=always (coreutils)');
  check('command -v sync', 'sync (coreutils)');
  check('dd if=/dev/null iflag=nocache count=0 status=none', 'GNU dd with iflag=nocache (coreutils)');
  check('fincore --version', 'fincore (util-linux)');
  check('command -v zstd && tar --version', 'GNU tar and zstd (packages tar, zstd) for the backup case');
  if (missing.length) throw new Error(`bench: missing ${missing.join(', ')}`);
}
