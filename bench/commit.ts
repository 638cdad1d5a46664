/**
 * Commit-throughput case of the benchmark: `vdisk commit` of a VHD chain,
 * or of the very qcow2 chain qemu-img commits, against `qemu-img commit` of
 * that qcow2 chain.
 *
 * From the case's sparse raw pattern disk it builds, once, outside any timing:
 *
 *   base.vhd    vdisk convert -O vhd RAW                (dynamic, 2 MiB blocks)
 *   top.vhd     vdisk snapshot base.vhd top.vhd, then child data written
 *               through the library (openImage … writable, writeAt, flush)
 *   base.qcow2  qemu-img convert -f raw -O qcow2 RAW
 *   top.qcow2   qemu-img create -f qcow2 -b base.qcow2 -F qcow2, then the same
 *               child data written with qemu-io `write -s PIECEFILE OFF 1M`
 *
 * The child data is up to 512 pieces of 1 MiB (fillPattern with CHILD_SEED),
 * one per stride (8 MiB on a 4 GiB disk, wider on bigger disks so the pieces
 * span the whole disk), alternately placed over base blocks that hold data and
 * over empty ones. The two top views are checked to be identical
 * (`qemu-img compare` of vdisk's raw view of top.vhd against top.qcow2).
 *
 * With `vdiskChain: 'qcow2'` no VHD chain is built: vdisk commits copies of
 * the same base.qcow2 and top.qcow2 as qemu-img.
 *
 * Each timed run copies the pristine chain of the tool (cp --sparse=always,
 * then sync, untimed) into a fresh directory and times `CMD && sync` there;
 * vdisk and qemu-img runs are interleaved and the median of --runs runs is
 * reported as MiB/s of child data. qemu-img commit also empties top.qcow2
 * afterwards (its default); vdisk leaves top.vhd as it was. After the last
 * run, `vdisk compare` checks vdisk's committed base.vhd against the raw view
 * of the original top (exit 0 required), and `qemu-img compare` does the same
 * for qemu-img's base.qcow2.
 */
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { openImage } from '../src/formats/registry.js';
import type { WritableDiskImage } from '../src/formats/types.js';
import { blockHasData, fillPattern, type PatternSpec } from '../test/helpers/pattern-disk.js';
import { formatSize } from '../src/util/sizes.js';
import { type CommitCaseResult, type Tool, type ToolResult, toolResult } from './report.js';
import { runChecked, runShell, shellJoin, shellQuote, timeRotations } from './timing.js';

/** Size of one piece of child data, and of one writeAt / qemu-io write. */
export const PIECE_BYTES = 1024 ** 2;

/** Most pieces written into the child (512 × 1 MiB = 512 MiB). */
export const MAX_PIECES = 512;

/** Smallest distance between the starts of consecutive pieces' slots. */
export const MIN_STRIDE = 8 * 1024 ** 2;

/** Seed of the child data, different from the base's so a commit changes every byte it writes. */
export const CHILD_SEED = 0xc0ffee;

/** Pieces written per qemu-io call (each needs its own 1 MiB file, as `write -s` reads from the file's start). */
const QEMU_IO_BATCH = 64;

/** One 1 MiB piece of child data. */
export interface Piece {
  /** Guest offset, a multiple of PIECE_BYTES. */
  offset: number;
  /** True when the base block under it holds data. */
  overData: boolean;
}

/** Where the child data goes. */
export interface PiecePlan {
  /** Slot size: piece i lies in [i × stride, (i + 1) × stride). */
  stride: number;
  pieces: Piece[];
}

/**
 * Plans the child data for a base made from pattern disk `spec`: one piece per
 * slot of `stride` bytes, in a block chosen so that the pieces over data blocks
 * and over empty blocks stay balanced (exactly half each unless some slot
 * offers only one kind). Empty for disks smaller than one stride.
 */
export function planPieces(spec: PatternSpec): PiecePlan {
  if (spec.blockSize % PIECE_BYTES !== 0) throw new Error(`bench: commit needs a block size that is a multiple of ${formatSize(PIECE_BYTES)}`);
  const minStride = Math.ceil(MIN_STRIDE / spec.blockSize) * spec.blockSize;
  const stride = Math.max(minStride, Math.floor(spec.size / MAX_PIECES / spec.blockSize) * spec.blockSize);
  const count = Math.min(MAX_PIECES, Math.floor(spec.size / stride));
  const blocksPerSlot = stride / spec.blockSize;
  const piecesPerBlock = spec.blockSize / PIECE_BYTES;
  const pieces: Piece[] = [];
  let overData = 0;
  for (let s = 0; s < count; s++) {
    const data: number[] = [];
    const empty: number[] = [];
    for (let b = s * blocksPerSlot; b < (s + 1) * blocksPerSlot; b++) (blockHasData(b, spec) ? data : empty).push(b);
    const wantData = overData <= s - overData;
    const useData = empty.length === 0 || (wantData && data.length > 0);
    const candidates = useData ? data : empty;
    const block = candidates[s % candidates.length]!;
    if (useData) overData++;
    pieces.push({ offset: block * spec.blockSize + (s % piecesPerBlock) * PIECE_BYTES, overData: useData });
  }
  return { stride, pieces };
}

/** Bytes of free space the commit case needs next to the raw source (pristine chains, the top view, two run copies). */
export function commitSpaceNeeded(spec: PatternSpec): number {
  const data = Math.ceil(spec.size / spec.blockSize) * spec.fraction * spec.blockSize;
  const child = planPieces(spec).pieces.length * PIECE_BYTES;
  return 6 * data + 10 * child + 256 * 1024 ** 2;
}

/** What the commit case needs from the benchmark driver. */
export interface CommitContext {
  /** The case's sparse raw pattern disk, source of both bases. */
  raw: string;
  /** How `raw` was generated (size, block size, fraction, seed). */
  spec: PatternSpec;
  /** Directory to work in (created here; the caller removes it). */
  dir: string;
  /** Path of bin/vdisk.js. */
  vdiskBin: string;
  /** Timed runs per tool. */
  runs: number;
  log: (text: string) => void;
  /** Throws when the user interrupted the benchmark. */
  checkInterrupted: () => void;
  /** Which chain vdisk commits: its own VHD chain, or qemu-img's qcow2 chain. */
  vdiskChain: 'vhd' | 'qcow2';
}

/** The two files of one chain. */
interface Chain {
  base: string;
  top: string;
}

function allocatedBytes(path: string): number {
  return statSync(path).blocks * 512;
}

/** Writes the planned pieces into the VHD child through the library. */
async function writeVhdChild(path: string, plan: PiecePlan): Promise<void> {
  const image = await openImage(path, { writable: true });
  try {
    const target = image as WritableDiskImage;
    if (typeof target.writeAt !== 'function') throw new Error(`bench: ${path} did not open writable`);
    const buf = new Uint8Array(PIECE_BYTES);
    for (const p of plan.pieces) {
      fillPattern(buf, p.offset, CHILD_SEED);
      await target.writeAt(buf, p.offset);
    }
    await target.flush();
  } finally {
    await image.close();
  }
}

/** Writes the same pieces into the qcow2 child with qemu-io, QEMU_IO_BATCH pieces (and piece files in `scratch`) at a time. */
function writeQcow2Child(path: string, plan: PiecePlan, scratch: string): void {
  mkdirSync(scratch, { recursive: true });
  const buf = new Uint8Array(PIECE_BYTES);
  try {
    for (let i = 0; i < plan.pieces.length; i += QEMU_IO_BATCH) {
      const argv = ['qemu-io', '-f', 'qcow2', path];
      const names: string[] = [];
      plan.pieces.slice(i, i + QEMU_IO_BATCH).forEach((p, k) => {
        const name = `piece-${i + k}.bin`;
        fillPattern(buf, p.offset, CHILD_SEED);
        writeFileSync(join(scratch, name), buf);
        names.push(name);
        argv.push('-c', `write -q -s ${name} ${p.offset} ${PIECE_BYTES}`);
      });
      // Piece files are named relative to `scratch`, as qemu-io splits its commands at spaces.
      const r = runShell(`cd ${shellQuote(scratch)} && ${shellJoin(argv)}`);
      const said = `${r.stderr}${r.stdout}`.trim();
      if (r.status !== 0 || said) throw new Error(`bench: qemu-io failed (exit ${r.status}) writing pieces ${i}..${i + names.length - 1}: ${said}`);
      for (const name of names) rmSync(join(scratch, name));
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** One tool's commit, run on a copy of its chain. */
interface CommitTool {
  tool: Tool;
  chain: Chain;
  argv: (top: string) => string[];
}

/**
 * Builds both chains in `ctx.dir`, times `vdisk commit` and `qemu-img commit`
 * on fresh copies, and verifies the committed bases. Returns undefined (and
 * does nothing) when the disk is too small for one piece.
 */
export async function runCommitCase(ctx: CommitContext): Promise<CommitCaseResult | undefined> {
  const plan = planPieces(ctx.spec);
  if (plan.pieces.length === 0) {
    ctx.log(`  commit: skipped, the disk is smaller than ${formatSize(plan.stride)}`);
    return undefined;
  }
  const childBytes = plan.pieces.length * PIECE_BYTES;
  const piecesOverData = plan.pieces.filter((p) => p.overData).length;
  const vdisk = (...args: string[]): string[] => [process.execPath, ctx.vdiskBin, ...args];
  mkdirSync(ctx.dir, { recursive: true });
  const src = join(ctx.dir, 'chain');
  mkdirSync(src);
  const vhd: Chain = { base: join(src, 'base.vhd'), top: join(src, 'top.vhd') };
  const qcow2: Chain = { base: join(src, 'base.qcow2'), top: join(src, 'top.qcow2') };
  const view = join(src, 'top-view.raw');

  ctx.log(
    `commit: building chains, ${formatSize(childBytes)} of child data in ${plan.pieces.length} × ${formatSize(PIECE_BYTES)} pieces ` +
      `every ${formatSize(plan.stride)} (${piecesOverData} over base data, ${plan.pieces.length - piecesOverData} over empty blocks) ...`,
  );
  const t0 = process.hrtime.bigint();
  const ours = ctx.vdiskChain === 'vhd' ? vhd : qcow2;
  if (ours === vhd) {
    runChecked(shellJoin(vdisk('convert', '-O', 'vhd', ctx.raw, vhd.base)));
    runChecked(shellJoin(vdisk('snapshot', vhd.base, vhd.top)));
    await writeVhdChild(vhd.top, plan);
    ctx.checkInterrupted();
  }
  runChecked(shellJoin(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', ctx.raw, qcow2.base]));
  runChecked(shellJoin(['qemu-img', 'create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', qcow2.top]));
  writeQcow2Child(qcow2.top, plan, join(ctx.dir, 'pieces'));
  ctx.checkInterrupted();
  runChecked(shellJoin(vdisk('convert', '-O', 'raw', ours.top, view)));
  const chainCheck = shellJoin(['qemu-img', 'compare', '-f', 'raw', '-F', 'qcow2', view, qcow2.top]);
  ctx.log(`  checking: ${chainCheck}`);
  const chainSaid = runChecked(chainCheck).trim();
  runChecked('sync');
  const setupSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  ctx.log(`  chains built in ${setupSeconds.toFixed(1)} s`);

  const tools: CommitTool[] = [
    { tool: 'vdisk', chain: ours, argv: (top) => vdisk('commit', top) },
    { tool: 'qemu-img', chain: qcow2, argv: (top) => ['qemu-img', 'commit', '-f', 'qcow2', top] },
  ];
  const runDir = (t: CommitTool): string => join(ctx.dir, `run-${t.tool}`);
  const runTop = (t: CommitTool): string => join(runDir(t), basename(t.chain.top));
  const { seconds, rss } = timeRotations(ctx.runs, join(ctx.dir, 'rss.txt'), {
    label: 'commit',
    tools,
    log: ctx.log,
    prepare: (i) => {
      const t = tools[i]!;
      ctx.checkInterrupted();
      const dir = runDir(t);
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir);
      runChecked(`${shellJoin(['cp', '--sparse=always', t.chain.base, t.chain.top, dir])} && sync`);
      return t.argv(runTop(t));
    },
  });
  ctx.checkInterrupted();

  const verifiedWith: string[] = [];
  const vdiskCheck = shellJoin(vdisk('compare', join(runDir(tools[0]!), basename(ours.base)), view));
  ctx.log(`  checking: ${vdiskCheck}`);
  const vr = runShell(vdiskCheck);
  if (vr.status !== 0) throw new Error(`bench: vdisk's committed base differs from the original top (exit ${vr.status}): ${vdiskCheck}\n${vr.stderr}${vr.stdout}`.trimEnd());
  verifiedWith.push(`${vdiskCheck}: exit 0${vr.stdout.trim() ? `, ${vr.stdout.trim()}` : ''}`);
  const qemuCheck = shellJoin(['qemu-img', 'compare', '-f', 'raw', '-F', 'qcow2', view, join(runDir(tools[1]!), 'base.qcow2')]);
  ctx.log(`  checking: ${qemuCheck}`);
  verifiedWith.push(`${qemuCheck}: ${runChecked(qemuCheck).trim()}`);

  const results = tools.map((t, i) => toolResult(t.tool, shellJoin(t.argv(runTop(t))), seconds[i]!, rss[i]!));
  const [v, q] = results as [ToolResult, ToolResult];
  const mib = childBytes / 1024 ** 2;
  return {
    childBytes,
    pieceBytes: PIECE_BYTES,
    pieces: plan.pieces.length,
    piecesOverData,
    piecesOverEmpty: plan.pieces.length - piecesOverData,
    strideBytes: plan.stride,
    setupSeconds,
    vdiskChain: ctx.vdiskChain,
    allocatedBytes: {
      ...(ours === vhd && { baseVhd: allocatedBytes(vhd.base), topVhd: allocatedBytes(vhd.top) }),
      baseQcow2: allocatedBytes(qcow2.base),
      topQcow2: allocatedBytes(qcow2.top),
    },
    tools: results,
    ratioQemuImg: v.medianSeconds / q.medianSeconds,
    vdiskMiBPerSecond: mib / v.medianSeconds,
    qemuImgMiBPerSecond: mib / q.medianSeconds,
    chainsVerifiedWith: `${chainCheck}: ${chainSaid}`,
    verifiedWith,
  };
}
