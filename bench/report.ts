/**
 * Result types of the benchmark, the machine description, and the text tables.
 */
import { cpus, release, totalmem } from 'node:os';
import { formatSize } from '../src/util/sizes.js';
import type { CacheState } from './args.js';
import type { PairFloor } from './floors.js';
import type { BackupCaseResult } from './backup.js';
import type { ServeCaseResult } from './serve.js';
import { median, runShell, shellQuote } from './timing.js';

/** Which program produced a measurement. */
export type Tool = 'vdisk' | 'qemu-img' | 'cp' | 'vdisk serve' | 'qemu-nbd' | 'tar';

/** All runs of one command. */
export interface ToolResult {
  tool: Tool;
  /** The command as run (inside `bash -c '… && sync'`), with temp paths. */
  command: string;
  /** Wall-clock seconds of each run, including the sync, in run order. */
  seconds: number[];
  medianSeconds: number;
  /**
   * The fastest run. On a machine whose storage or host adds delays from
   * outside (a VM: writeback, discards, host page faults), the best of N
   * interleaved runs estimates what the command itself costs; the median
   * still carries some of that noise.
   */
  bestSeconds: number;
  /** Peak RSS of each run in KiB (GNU time %M). */
  peakRssKiB: number[];
  /** Largest peak RSS over the runs, in MiB. */
  maxPeakRssMiB: number;
}

/** One row of the table: the same conversion by vdisk and by the other tools. */
export interface PairResult {
  pair: string;
  tools: ToolResult[];
  /** vdisk median / qemu-img median. */
  ratioQemuImg: number;
  /** vdisk best / qemu-img best. */
  bestRatioQemuImg: number;
  /** vdisk median / cp median (raw→raw only). */
  ratioCp?: number;
  /** vdisk best / cp best (raw→raw only). */
  bestRatioCp?: number;
  /** The machine's floor for this pair (cold table only). */
  floor?: PairFloor;
  /** vdisk median / floor seconds (cold table only). */
  ratioFloor?: number;
  /** Allocated bytes of vdisk's output after the last run. */
  vdiskOutputAllocatedBytes: number;
  /** The `qemu-img compare` that checked vdisk's output against the pair's source. */
  verifiedWith: string;
}

/** The commit-throughput case (bench/commit.ts): vdisk commit of a VHD chain against qemu-img commit of the same qcow2 chain. */
export interface CommitCaseResult {
  /** Bytes of child data in the top image, which each commit merges into the base. */
  childBytes: number;
  /** Size of each piece of child data. */
  pieceBytes: number;
  pieces: number;
  /** Pieces over base blocks that hold data. */
  piecesOverData: number;
  /** Pieces over base blocks that are empty. */
  piecesOverEmpty: number;
  /** One piece per stride of the disk. */
  strideBytes: number;
  /** Seconds to build both pristine chains and check them (untimed for the comparison). */
  setupSeconds: number;
  /** The chain vdisk committed: its own VHD chain, or qemu-img's qcow2 chain. */
  vdiskChain: 'vhd' | 'qcow2';
  /** Allocated bytes of the pristine chain files (the VHD chain's only when it was built). */
  allocatedBytes: { baseVhd?: number; topVhd?: number; baseQcow2: number; topQcow2: number };
  /** vdisk commit of its chain's top, then qemu-img commit -f qcow2 top.qcow2. */
  tools: ToolResult[];
  /** vdisk median / qemu-img median. */
  ratioQemuImg: number;
  /** Child data MiB / vdisk median seconds. */
  vdiskMiBPerSecond: number;
  /** Child data MiB / qemu-img median seconds. */
  qemuImgMiBPerSecond: number;
  /** The `qemu-img compare` showing both chains' top views are identical before committing. */
  chainsVerifiedWith: string;
  /** The checks of the committed bases against the original top view (vdisk's first). */
  verifiedWith: string[];
}

/** Every pair timed with the source cold (dropped from the page cache before each run) or warm. */
export interface PairTable {
  cache: CacheState;
  pairs: PairResult[];
}

/** One generated source disk and the pairs timed on it. */
export interface CaseResult {
  size: number;
  fraction: number;
  blockSize: number;
  dataBlocks: number;
  /** Bytes written to the source (data blocks × block size). */
  dataBytes: number;
  /** Allocated bytes of the source file as the filesystem reports them. */
  sourceAllocatedBytes: number;
  generateSeconds: number;
  /** One table per cache state, in the order run. */
  tables: PairTable[];
  /** The commit cases on this disk, one per chain vdisk commits (none when the disk is too small for them). */
  commits: CommitCaseResult[];
  /** nbdcopy from vdisk serve and from qemu-nbd (bench/serve.ts), when nbdcopy and qemu-nbd are installed. */
  serve?: ServeCaseResult;
  /** vdisk backup of the disk (bench/backup.ts). */
  backup?: BackupCaseResult;
}

/** The result of one tool's runs of a command. */
export function toolResult(tool: Tool, command: string, seconds: number[], peakRssKiB: number[]): ToolResult {
  return { tool, command, seconds, medianSeconds: median(seconds), bestSeconds: Math.min(...seconds), peakRssKiB, maxPeakRssMiB: Math.max(...peakRssKiB) / 1024 };
}

/** The machine and tool versions the numbers were taken on. */
export interface MachineInfo {
  node: string;
  qemuImg: string;
  vdisk: string;
  cpuModel: string;
  cpus: number;
  memoryBytes: number;
  kernel: string;
  benchDir: string;
  benchDirFilesystem: string;
}

/** Everything written to bench-out/results.json. */
export interface BenchResults {
  date: string;
  runs: number;
  machine: MachineInfo;
  cases: CaseResult[];
}

/** Describes this machine; `root` is the project root (for the vdisk version), `dir` the bench directory. */
export function machineInfo(root: string, dir: string, vdiskVersion: string): MachineInfo {
  const qemu = runShell('qemu-img --version').stdout.split('\n')[0]?.trim() ?? 'unknown';
  const commit = runShell(`git -C ${shellQuote(root)} rev-parse --short HEAD 2>/dev/null`).stdout.trim();
  const dirty = commit && runShell(`git -C ${shellQuote(root)} status --porcelain --untracked-files=no -- src`).stdout.trim() ? '+dirty' : '';
  const fs = runShell(`stat -f -c %T ${shellQuote(dir)}`).stdout.trim() || 'unknown';
  return {
    node: process.version,
    qemuImg: qemu,
    vdisk: commit ? `${vdiskVersion} (${commit}${dirty})` : vdiskVersion,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    cpus: cpus().length,
    memoryBytes: totalmem(),
    kernel: release(),
    benchDir: dir,
    benchDirFilesystem: fs,
  };
}

/** Text lines describing the machine, printed above the tables. */
export function formatMachine(m: MachineInfo): string[] {
  return [
    `node ${m.node}, ${m.qemuImg}, vdisk ${m.vdisk}`,
    `${m.cpus} × ${m.cpuModel}, ${formatSize(m.memoryBytes)} RAM, Linux ${m.kernel}, bench dir ${m.benchDir} (${m.benchDirFilesystem})`,
  ];
}

function toolOf(r: PairResult, tool: Tool): ToolResult | undefined {
  return r.tools.find((t) => t.tool === tool);
}

/** The tables of one case: one row per pair, medians in seconds, ratios of medians and of best runs, the floor (cold), vdisk peak RSS. */
export function formatCase(c: CaseResult, runs: number): string[] {
  const head = [
    `${formatSize(c.size)} sparse raw, ${(c.fraction * 100).toFixed(c.fraction < 0.1 ? 1 : 0)} % of ${formatSize(c.blockSize)} blocks written ` +
      `(${c.dataBlocks} blocks, ${formatSize(c.dataBytes)}); median of ${runs}+ runs (whole rotations of the tools, each first in turn), each including sync; best: ratio of the fastest runs`,
  ];
  return [...head, ...c.tables.flatMap((t) => ['', ...formatTableOf(t)])];
}

/** One table: cold ones carry the floor column (max of the read and write floors) and vdisk's multiple of it. */
function formatTableOf(t: PairTable): string[] {
  const cold = t.cache === 'cold';
  const title = cold ? 'cold: each source dropped from the page cache before every run; floor = max(O_DIRECT read of its data, best write of as many bytes, both at once)' : 'warm: sources left in the page cache';
  const rows: string[][] = [['pair', 'vdisk s', 'qemu-img s', 'vdisk/qemu-img', 'best', 'cp s', 'vdisk/cp', 'best', ...(cold ? ['floor s', 'vdisk/floor'] : []), 'vdisk RSS MiB']];
  for (const p of t.pairs) {
    const v = toolOf(p, 'vdisk')!;
    const q = toolOf(p, 'qemu-img')!;
    const cp = toolOf(p, 'cp');
    rows.push([
      p.pair,
      v.medianSeconds.toFixed(3),
      q.medianSeconds.toFixed(3),
      p.ratioQemuImg.toFixed(2),
      p.bestRatioQemuImg.toFixed(2),
      cp ? cp.medianSeconds.toFixed(3) : '',
      p.ratioCp !== undefined ? p.ratioCp.toFixed(2) : '',
      p.bestRatioCp !== undefined ? p.bestRatioCp.toFixed(2) : '',
      ...(cold ? [p.floor ? p.floor.seconds.toFixed(3) : '', p.ratioFloor !== undefined ? p.ratioFloor.toFixed(2) : ''] : []),
      v.maxPeakRssMiB.toFixed(1),
    ]);
  }
  return [title, ...formatTable(rows)];
}

/** Lays out rows (the first is the header) in columns: the first left-aligned, the others right-aligned. */
export function formatTable(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)];
}

/** The commit table of one case, a row per chain vdisk committed: medians, throughput of child data, the ratio, vdisk peak RSS. */
export function formatCommit(commits: CommitCaseResult[], runs: number): string[] {
  const c = commits[0]!;
  const head = [
    `commit: ${formatSize(c.childBytes)} of child data in ${c.pieces} × ${formatSize(c.pieceBytes)} pieces every ${formatSize(c.strideBytes)} ` +
      `(${c.piecesOverData} over base data, ${c.piecesOverEmpty} over empty blocks);`,
    `vdisk commit of its VHD chain or of qemu-img's qcow2 chain vs qemu-img commit -f qcow2 top.qcow2 on fresh copies of the chains, median of ${runs}+ runs in rotation, each including sync`,
  ];
  const row = (c: CommitCaseResult): string[] => {
    const v = c.tools.find((t) => t.tool === 'vdisk')!;
    const q = c.tools.find((t) => t.tool === 'qemu-img')!;
    return [
      `commit ${c.vdiskChain} / qcow2`,
      v.medianSeconds.toFixed(3),
      q.medianSeconds.toFixed(3),
      c.ratioQemuImg.toFixed(2),
      (v.bestSeconds / q.bestSeconds).toFixed(2),
      c.vdiskMiBPerSecond.toFixed(1),
      c.qemuImgMiBPerSecond.toFixed(1),
      v.maxPeakRssMiB.toFixed(1),
    ];
  };
  const rows = [['case', 'vdisk s', 'qemu-img s', 'vdisk/qemu-img', 'best', 'vdisk MiB/s', 'qemu-img MiB/s', 'vdisk RSS MiB'], ...commits.map(row)];
  return [...head, ...formatTable(rows)];
}
