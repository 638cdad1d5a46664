/**
 * vdisk benchmark against qemu-img and cp (`npm run bench`; not part of npm test).
 *
 * For each case it generates a sparse raw pattern disk in a temporary
 * directory (under VDISK_BENCH_DIR, else the OS temp dir), then times these
 * conversions, each as `bash -c 'CMD && sync'` because qemu-img does not
 * flush its output and vdisk does:
 *
 *   raw→vhd dynamic   vdisk convert -O vhd          qemu-img convert -f raw -O vpc -o subformat=dynamic
 *   vhd→raw           vdisk convert -O raw          qemu-img convert -f vpc -O raw   (from vdisk's VHD)
 *   raw→vhd fixed     vdisk ... -o subformat=fixed  qemu-img ... -o subformat=fixed
 *   raw→vhdx dynamic, vhdx→raw, vhd→vhdx, vhdx→vhd: the same with -O vhdx / -f vhdx
 *   raw→raw           vdisk convert -O raw          qemu-img convert -f raw -O raw   cp --sparse=always
 *   raw→vmdk, vmdk→raw, vhd→vmdk, vmdk→vhdx: monolithicSparse VMDK, -O vmdk / -f vmdk (from vdisk's VMDK)
 *   raw→vmdk streamOptimized  vdisk ... -o subformat=streamOptimized  qemu-img ... -o subformat=streamOptimized
 *   raw→vdi, vdi→vhd: dynamic VDI (from vdisk's VDI)
 *   raw→qcow2, qcow2→raw, qcow2→vhd, vhdx→qcow2: qcow2 v3, 64 KiB clusters (from vdisk's qcow2)
 *   raw→qcow2 -c      vdisk convert -c -O qcow2     qemu-img convert -c -f raw -O qcow2
 *
 * Runs are interleaved and the order rotates each round (vdisk, qemu-img, cp;
 * qemu-img, cp, vdisk; ...), because the first command of a round was measured
 * to pay a penalty whichever tool it was. Each output is
 * deleted (and the deletion synced) before the next timed run, and the median
 * of --runs runs is reported together with vdisk's peak RSS from GNU time.
 * After timing, vdisk's output of each pair is checked against the pair's
 * source with `qemu-img compare`.
 *
 * All pairs run twice, cold first: in the cold table the source is dropped
 * from the page cache before every timed run (bench/page-cache.ts), and each
 * pair is also set against the machine's floor, max(time to read the
 * source's data, time to write as many bytes, time to do both at once) by
 * the fastest ways bench/floor.ts knows; in the warm table the source stays cached from the
 * previous run. --cold or --warm runs one table only.
 *
 * Then each case times `vdisk commit` of a VHD chain (base from vdisk convert
 * of the raw disk, 512 MiB of child data), and of qemu-img's qcow2 chain,
 * against `qemu-img commit` of that qcow2 chain, on fresh copies per run (bench/commit.ts), and
 * `nbdcopy` from `vdisk serve` against `nbdcopy` from `qemu-nbd` on the
 * case's VHD and on a qcow2 of it made by qemu-img (bench/serve.ts; skipped, with a line saying so, without
 * nbdcopy or qemu-nbd), and last `vdisk backup` of the raw disk: first,
 * unchanged and 1 %-changed backups and a restore (bench/backup.ts; with
 * --only, when 'backup' is one of the names). Results are printed as tables
 * and written to bench-out/results.json.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writePatternDisk } from '../test/helpers/pattern-disk.js';
import { formatSize } from '../src/util/sizes.js';
import { type BenchCase, type BenchOptions, type CacheState, parseBenchArgs, USAGE } from './args.js';
import { formatBackup, runBackupCase, type BackupCaseResult } from './backup.js';
import { commitSpaceNeeded, runCommitCase } from './commit.js';
import { Floors } from './floors.js';
import { type BenchFormat, QEMU_FORMAT } from './qemu-formats.js';
import { dropFromCache } from './page-cache.js';
import { type BenchResults, type CaseResult, type CommitCaseResult, formatCase, formatCommit, formatMachine, machineInfo, type PairResult, type PairTable, type Tool, type ToolResult, toolResult } from './report.js';
import { formatServe, runServeCase, serveToolsPresent, type ServeCaseResult } from './serve.js';
import { requireTools, runChecked, shellJoin, timeRotations } from './timing.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const VDISK_BIN = join(ROOT, 'bin', 'vdisk.js');
const BLOCK_SIZE = 2 * 1024 ** 2;

/** One command of a pair: builds argv from source and destination paths. */
interface ToolSpec {
  tool: Tool;
  argv: (src: string, dst: string) => string[];
}

/** One conversion timed with several tools. */
interface PairSpec {
  name: string;
  /** Which file of the case is the source (all but the raw disk are vdisk's own outputs of earlier pairs). */
  source: BenchFormat;
  /** The case's file of this format is vdisk's output of this pair, for later pairs to read. */
  produces?: BenchFormat;
  /** Output file extension. */
  ext: string;
  /** qemu-img format names of source and vdisk output, for the check. */
  compare: [string, string];
  tools: ToolSpec[];
}

const vdisk = (...args: string[]) => (src: string, dst: string) => [process.execPath, VDISK_BIN, 'convert', ...args, src, dst];
const qemu = (...args: string[]) => (src: string, dst: string) => ['qemu-img', 'convert', ...args, src, dst];


/**
 * A conversion timed with vdisk and qemu-img. `fixed` asks both for a fixed
 * VHD; other VHD and VHDX outputs are dynamic (vdisk's default, named to
 * qemu-img); other outputs take no options: VMDK is monolithicSparse, VDI
 * dynamic, qcow2 version 3 with 64 KiB clusters (both tools' defaults). `produces` makes the
 * output the case's source of its format.
 */
function conversion(name: string, source: BenchFormat, target: BenchFormat, { fixed = false, produces = false } = {}): PairSpec {
  const subformat = target === 'vhd' || target === 'vhdx' ? ['-o', `subformat=${fixed ? 'fixed' : 'dynamic'}`] : [];
  return {
    name,
    source,
    ...(produces && { produces: target }),
    ext: target,
    compare: [QEMU_FORMAT[source], QEMU_FORMAT[target]],
    tools: [
      { tool: 'vdisk', argv: vdisk('-O', target, ...(fixed ? subformat : [])) },
      { tool: 'qemu-img', argv: qemu('-f', QEMU_FORMAT[source], '-O', QEMU_FORMAT[target], ...subformat) },
    ],
  };
}

const rawToRaw = conversion('raw→raw', 'raw', 'raw');

/** A conversion from raw with the same extra arguments to both tools. */
function fromRaw(name: string, target: BenchFormat, args: string[]): PairSpec {
  return {
    name,
    source: 'raw',
    ext: target,
    compare: ['raw', QEMU_FORMAT[target]],
    tools: [
      { tool: 'vdisk', argv: vdisk(...args, '-O', target) },
      { tool: 'qemu-img', argv: qemu(...args, '-f', 'raw', '-O', QEMU_FORMAT[target]) },
    ],
  };
}

/** raw→streamOptimized VMDK: vdisk compresses on every core, qemu-img on one (issue 14's target: 0.6 of qemu-img's time). */
const streamOptimized = fromRaw('raw→vmdk streamOptimized', 'vmdk', ['-o', 'subformat=streamOptimized']);

/** raw→compressed qcow2 (`convert -c`): vdisk compresses on every core; qemu-img, writing in order, one cluster at a time (issue 15's target: 0.6 of qemu-img's time). */
const compressedQcow2 = fromRaw('raw→qcow2 -c', 'qcow2', ['-c']);

/** The pairs, in the order they run; a pair from another format than raw reads what the last vdisk run of the pair that `produces` it made. */
const PAIRS: PairSpec[] = [
  conversion('raw→vhd dynamic', 'raw', 'vhd', { produces: true }),
  conversion('vhd→raw', 'vhd', 'raw'),
  conversion('raw→vhd fixed', 'raw', 'vhd', { fixed: true }),
  conversion('raw→vhdx dynamic', 'raw', 'vhdx', { produces: true }),
  conversion('vhdx→raw', 'vhdx', 'raw'),
  conversion('vhd→vhdx', 'vhd', 'vhdx'),
  conversion('vhdx→vhd', 'vhdx', 'vhd'),
  conversion('raw→vmdk', 'raw', 'vmdk', { produces: true }),
  conversion('vmdk→raw', 'vmdk', 'raw'),
  conversion('vhd→vmdk', 'vhd', 'vmdk'),
  conversion('vmdk→vhdx', 'vmdk', 'vhdx'),
  streamOptimized,
  conversion('raw→vdi', 'raw', 'vdi', { produces: true }),
  conversion('vdi→vhd', 'vdi', 'vhd'),
  conversion('raw→qcow2', 'raw', 'qcow2', { produces: true }),
  conversion('qcow2→raw', 'qcow2', 'raw'),
  conversion('qcow2→vhd', 'qcow2', 'vhd'),
  conversion('vhdx→qcow2', 'vhdx', 'qcow2'),
  compressedQcow2,
  { ...rawToRaw, tools: [...rawToRaw.tools, { tool: 'cp', argv: (src, dst) => ['cp', '--sparse=always', src, dst] }] },
];

let interrupted = false;

function checkInterrupted(): void {
  if (interrupted) throw new Error('bench: interrupted');
}

function log(text: string): void {
  process.stderr.write(`${text}\n`);
}

function allocatedBytes(path: string): number {
  return statSync(path).blocks * 512;
}

/**
 * Fails early when the bench directory cannot hold the source, vdisk's VHD, a
 * kept output and one in progress, or the source and the commit case's chains.
 */
function checkFreeSpace(dir: string, c: BenchCase): void {
  const data = Math.ceil(c.size / BLOCK_SIZE) * c.fraction * BLOCK_SIZE;
  const need = Math.max(5 * data + 256 * 1024 ** 2, data + commitSpaceNeeded({ size: c.size, blockSize: BLOCK_SIZE, fraction: c.fraction }));
  const st = statfsSync(dir);
  const free = st.bavail * st.bsize;
  if (free < need) throw new Error(`bench: ${dir} has ${formatSize(free)} free, the ${formatSize(c.size)} case needs about ${formatSize(need)}`);
}

/** Times every tool of one pair `runs` times (dropping `src` from the page cache before each when cold); leaves vdisk's last output at the returned path. */
function timePair(pair: PairSpec, src: string, dir: string, runs: number, cache: CacheState): { results: ToolResult[]; vdiskOutput: string } {
  const output = (t: ToolSpec) => join(dir, `out-${t.tool}.${pair.ext}`);
  const { seconds, rss } = timeRotations(runs, join(dir, 'rss.txt'), {
    label: `${pair.name} (${cache})`,
    tools: pair.tools,
    log,
    prepare: (i) => {
      const t = pair.tools[i]!;
      checkInterrupted();
      rmSync(output(t), { force: true });
      runChecked('sync');
      if (cache === 'cold') dropFromCache(src);
      return t.argv(src, output(t));
    },
    finish: (i, run, rounds) => {
      const t = pair.tools[i]!;
      if (!existsSync(output(t))) throw new Error(`bench: ${t.tool} exited 0 but wrote no ${output(t)}`);
      if (!(t.tool === 'vdisk' && run === rounds - 1)) rmSync(output(t), { force: true });
    },
  });
  runChecked('sync');
  const results = pair.tools.map((t, i) => toolResult(t.tool, shellJoin(t.argv(src, output(t))), seconds[i]!, rss[i]!));
  return { results, vdiskOutput: join(dir, `out-vdisk.${pair.ext}`) };
}

/** The pairs named in `only` (all without it), with every pair that produces a source one of them reads, in PAIRS order. */
function selectPairs(only: string[] | undefined): PairSpec[] {
  if (!only) return PAIRS;
  const unknown = only.filter((n) => !PAIRS.some((p) => p.name === n));
  if (unknown.length) throw new Error(`bench: --only: no pair named ${unknown.join(', ')} (pairs: ${PAIRS.map((p) => p.name).join(', ')})`);
  const wanted = PAIRS.filter((p) => only.includes(p.name));
  const needed = new Set(wanted.map((p) => p.source));
  return PAIRS.filter((p) => wanted.includes(p) || (p.produces !== undefined && needed.has(p.produces)));
}

/**
 * Times each of `pairs` once with the source in `cache` state, in order (a
 * source other than raw is vdisk's output of the pair that `produces` it);
 * in the cold table each pair is also set against its floor.
 */
function timeTable(pairs: PairSpec[], cache: CacheState, sources: Record<BenchFormat, string>, dir: string, runs: number, keep: boolean, floors: Floors): PairResult[] {
  const timed: PairResult[] = [];
  for (const pair of pairs) {
    const src = sources[pair.source];
    if (!existsSync(src)) throw new Error(`bench: ${pair.name} needs ${src}, which no earlier pair made`);
    const floor = cache === 'cold' ? floors.of(src) : undefined;
    const { results, vdiskOutput } = timePair(pair, src, dir, runs, cache);
    checkInterrupted();
    const check = shellJoin(['qemu-img', 'compare', '-f', pair.compare[0], '-F', pair.compare[1], src, vdiskOutput]);
    log(`  checking: ${check}`);
    const said = runChecked(check).trim();
    const byTool = (tool: Tool) => results.find((r) => r.tool === tool);
    const v = byTool('vdisk')!;
    const cp = byTool('cp');
    timed.push({
      pair: pair.name,
      tools: results,
      ratioQemuImg: v.medianSeconds / byTool('qemu-img')!.medianSeconds,
      bestRatioQemuImg: v.bestSeconds / byTool('qemu-img')!.bestSeconds,
      ...(cp ? { ratioCp: v.medianSeconds / cp.medianSeconds, bestRatioCp: v.bestSeconds / cp.bestSeconds } : {}),
      ...(floor ? { floor, ratioFloor: v.medianSeconds / floor.seconds } : {}),
      vdiskOutputAllocatedBytes: allocatedBytes(vdiskOutput),
      verifiedWith: `${check}: ${said}`,
    });
    if (pair.produces) renameSync(vdiskOutput, sources[pair.produces]);
    else if (keep) renameSync(vdiskOutput, join(dir, `vdisk-${cache}-${timed.length}.${pair.ext}`));
    else rmSync(vdiskOutput, { force: true });
  }
  return timed;
}

/** A qcow2 of the raw source written by qemu-img, synced, for the serve case: both servers read the image qemu wrote. */
function qcow2Of(raw: string, dir: string): string {
  const path = join(dir, 'qemu.qcow2');
  runChecked(`${shellJoin(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', raw, path])} && sync`);
  return path;
}

/** Generates the source of one case in `dir` (created) and times all pairs on it, one table per cache state; removes `dir` unless `keep`. */
async function runCase(c: BenchCase, dir: string, { runs, keep, caches, only }: BenchOptions): Promise<CaseResult> {
  const pairs = selectPairs(only?.filter((n) => n !== 'backup'));
  const wantBackup = !only || only.includes('backup');
  mkdirSync(dir);
  checkFreeSpace(dir, c);
  const sources = Object.fromEntries(Object.keys(QEMU_FORMAT).map((f) => [f, join(dir, `src.${f}`)])) as Record<BenchFormat, string>;
  const { raw, vhd } = sources;
  log(`generating ${formatSize(c.size)} sparse raw disk, fraction ${c.fraction} of ${formatSize(BLOCK_SIZE)} blocks ...`);
  const t0 = process.hrtime.bigint();
  const dataBlocks = await writePatternDisk(raw, { size: c.size, blockSize: BLOCK_SIZE, fraction: c.fraction });
  const generateSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const dataBytes = Math.min(dataBlocks * BLOCK_SIZE, c.size);
  const sourceAllocatedBytes = allocatedBytes(raw);
  log(`  ${dataBlocks} data blocks, ${formatSize(sourceAllocatedBytes)} allocated, ${generateSeconds.toFixed(1)} s`);

  const tables: PairTable[] = [];
  const commits: CommitCaseResult[] = [];
  let serve: ServeCaseResult | undefined;
  let backup: BackupCaseResult | undefined;
  const floors = new Floors(dir, dataBytes, log);
  try {
    for (const cache of caches) tables.push({ cache, pairs: timeTable(pairs, cache, sources, dir, runs, keep, floors) });
    const backupCase = () => runBackupCase({ raw, spec: { size: c.size, blockSize: BLOCK_SIZE, fraction: c.fraction }, dataBytes, dir: join(dir, 'backup'), vdiskBin: VDISK_BIN, runs, log });
    if (only) {
      log('--only: the serve and commit cases are skipped');
      const backup = wantBackup ? await backupCase() : undefined;
      return { size: c.size, fraction: c.fraction, blockSize: BLOCK_SIZE, dataBlocks, dataBytes, sourceAllocatedBytes, generateSeconds, tables, commits, ...(backup && { backup }) };
    }
    if (serveToolsPresent()) serve = await runServeCase({ sources: [{ name: 'vhd', path: vhd, driver: 'vpc' }, { name: 'qcow2', path: qcow2Of(raw, dir), driver: 'qcow2' }], dir, vdiskBin: VDISK_BIN, runs, caches, log, checkInterrupted });
    else log('serve: nbdcopy or qemu-nbd is missing (packages libnbd-bin, qemu-utils); the serve case is skipped');
    if (!keep) for (const f of Object.values(sources)) if (f !== raw) rmSync(f, { force: true });
    for (const vdiskChain of ['vhd', 'qcow2'] as const) {
      const commit = await runCommitCase({
        raw,
        spec: { size: c.size, blockSize: BLOCK_SIZE, fraction: c.fraction },
        dir: join(dir, 'commit'),
        vdiskBin: VDISK_BIN,
        runs,
        log,
        checkInterrupted,
        vdiskChain,
      });
      if (commit) commits.push(commit);
      rmSync(join(dir, 'commit'), { recursive: true, force: true });
    }
    backup = await backupCase();
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
  return { size: c.size, fraction: c.fraction, blockSize: BLOCK_SIZE, dataBlocks, dataBytes, sourceAllocatedBytes, generateSeconds, tables, commits, ...(serve ? { serve } : {}), ...(backup && { backup }) };
}

async function main(argv: string[]): Promise<number> {
  let opts: BenchOptions;
  try {
    opts = parseBenchArgs(argv);
  } catch (e) {
    log(`bench: ${(e as Error).message}\n${USAGE}`);
    return 1;
  }
  if (opts.help) {
    console.log(USAGE);
    return 0;
  }
  requireTools();
  if (!existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js'))) throw new Error('bench: dist/src is missing; run npm run build (npm run bench does)');

  const parent = resolve(process.env.VDISK_BENCH_DIR || tmpdir());
  const dir = mkdtempSync(join(parent, 'vdisk-bench-'));
  process.on('SIGINT', () => {
    interrupted = true;
  });
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const results: BenchResults = { date: new Date().toISOString(), runs: opts.runs, machine: machineInfo(ROOT, dir, pkg.version), cases: [] };
  for (const line of formatMachine(results.machine)) log(line);
  try {
    for (const [i, c] of opts.cases.entries()) results.cases.push(await runCase(c, join(dir, `case-${i + 1}`), opts));
  } finally {
    if (opts.keep) log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }

  const outDir = join(ROOT, 'bench-out');
  mkdirSync(outDir, { recursive: true });
  const outFile = join(outDir, 'results.json');
  writeFileSync(outFile, `${JSON.stringify(results, null, 2)}\n`);
  const lines = ['', ...formatMachine(results.machine)];
  for (const c of results.cases) {
    lines.push('', ...formatCase(c, opts.runs));
    if (c.commits.length > 0) lines.push('', ...formatCommit(c.commits, opts.runs));
    if (c.serve) lines.push('', ...formatServe(c.serve, opts.runs));
    if (c.backup) lines.push('', ...formatBackup(c.backup, opts.runs));
  }
  lines.push('', `results: ${outFile}`);
  console.log(lines.join('\n'));
  return 0;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  log((e as Error).message);
  process.exitCode = 1;
}
