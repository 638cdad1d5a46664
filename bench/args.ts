/**
 * Command-line arguments of the benchmark (`npm run bench -- [options]`).
 *
 *   --size SIZE       virtual size of the generated raw disk (512, 10M, 4G, 64G ...)
 *   --fraction F      fraction of 2 MiB blocks holding data, 0 < F <= 1
 *   --all             run the standard cases: 4 GiB with 30 % data and 64 GiB with 1 %
 *   --runs N          timed runs per command (median is reported), default 5;
 *                     rounded up to whole rotations of the pair's tools
 *   --cold, --warm    only the cold table (source dropped from the page cache
 *                     before every run) or only the warm one; default both, cold first
 *   --keep            keep the temporary directory (sources and vdisk outputs)
 *   --only PAIRS      time only these conversion pairs (comma-separated names as
 *                     the table prints them, e.g. raw→vdi,vdi→vhd), plus the pairs
 *                     that make their sources; the commit and serve cases are skipped,
 *                     and the backup case unless 'backup' is one of the names
 *   -h, --help        print this text
 *
 * Without options the 4 GiB / 30 % case runs. --size or --fraction alone
 * replaces it by one case (the other value defaulting to 4G or 0.3); with
 * --all that case is run after the standard ones.
 */
import { parseArgs } from 'node:util';
import { parseSize } from '../src/util/sizes.js';

/** One generated source disk to benchmark. */
export interface BenchCase {
  /** Virtual size in bytes. */
  size: number;
  /** Fraction of blocks holding data, 0..1. */
  fraction: number;
}

/** Whether each timed run finds its source in the page cache ('warm') or not ('cold'). */
export type CacheState = 'cold' | 'warm';

/** Parsed options of one benchmark run. */
export interface BenchOptions {
  cases: BenchCase[];
  runs: number;
  /** The tables to time on each case, in order. */
  caches: CacheState[];
  keep: boolean;
  /** Names of the only pairs to time (with the pairs that make their sources); undefined: all, with the commit and serve cases. */
  only?: string[];
  help: boolean;
}

/** The case run when no option selects another one. */
export const DEFAULT_CASE: BenchCase = { size: 4 * 1024 ** 3, fraction: 0.3 };

/** The cases `--all` runs. */
export const ALL_CASES: readonly BenchCase[] = [DEFAULT_CASE, { size: 64 * 1024 ** 3, fraction: 0.01 }];

/** Usage text printed by --help and after a usage error. */
export const USAGE = `usage: npm run bench -- [--size SIZE] [--fraction F] [--all] [--runs N] [--cold | --warm] [--keep]
  --size SIZE    virtual size of the generated sparse raw disk (default 4G)
  --fraction F   fraction of 2 MiB blocks holding data (default 0.3)
  --all          run 4 GiB / 0.3 and 64 GiB / 0.01 (plus --size/--fraction if given)
  --runs N       timed runs per command, the median is reported (default 5)
  --cold         only the cold table: each source dropped from the page cache before every run
  --warm         only the warm table: sources left in the page cache (default: both, cold first)
  --keep         keep the temporary directory (sources, vdisk outputs) instead of deleting it
  --only PAIRS   only these pairs, comma-separated as the table names them (raw→vdi,vdi→vhd), and the pairs making their sources; no commit or serve case; 'backup' adds the backup case
environment: VDISK_BENCH_DIR=DIR puts the temporary directory under DIR (default: the OS temp dir)`;

/** Parses argv (without node and script); throws Error with a readable message on bad input. */
export function parseBenchArgs(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      size: { type: 'string' },
      fraction: { type: 'string' },
      all: { type: 'boolean', default: false },
      runs: { type: 'string', default: '5' },
      keep: { type: 'boolean', default: false },
      only: { type: 'string' },
      cold: { type: 'boolean', default: false },
      warm: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1 || runs > 100) throw new Error(`--runs must be an integer 1..100, not '${values.runs}'`);

  let custom: BenchCase | undefined;
  if (values.size !== undefined || values.fraction !== undefined) {
    const size = values.size === undefined ? DEFAULT_CASE.size : parseSize(values.size);
    const fraction = values.fraction === undefined ? DEFAULT_CASE.fraction : Number(values.fraction);
    if (size < 2 * 1024 ** 2 || size % 512 !== 0) throw new Error(`--size must be a multiple of 512 and at least 2M, not '${values.size}'`);
    if (!(fraction > 0 && fraction <= 1)) throw new Error(`--fraction must be in (0, 1], not '${values.fraction}'`);
    custom = { size, fraction };
  }
  const cases = values.all ? [...ALL_CASES] : [];
  if (custom) cases.push(custom);
  if (cases.length === 0) cases.push(DEFAULT_CASE);
  if (values.cold && values.warm) throw new Error('--cold and --warm exclude each other (without either, both tables run)');
  const caches: CacheState[] = values.cold ? ['cold'] : values.warm ? ['warm'] : ['cold', 'warm'];
  const only = values.only?.split(',').map((x) => x.trim()).filter(Boolean);
  return { cases, runs, caches, keep: values.keep, ...(only && { only }), help: values.help };
}
