/**
 * Backup case of the benchmark (issue 18): on the case's sparse raw pattern
 * disk, with the source dropped from the page cache before every timed run
 * (cold, what a nightly backup meets):
 *
 *   first     `vdisk backup create` into a new local repository, against
 *             `tar --zstd -cSf` of the same file (GNU tar, sparse-aware,
 *             the zstd program at its default level), interleaved
 *   unchanged `vdisk backup create` of the same, unchanged disk again (the
 *             incremental shortcut), and again with --full (every data chunk
 *             read and hashed), each set against the first backup's median
 *   changed   after 1 % of the data blocks are rewritten, one backup: the
 *             chunks it stored against the chunks the rewrite touched
 *   restore   `vdisk backup restore -O raw` of the first snapshot
 *
 * Each row gives MB/s of the disk's data bytes. The restore is checked with
 * `cmp` against the source as it was backed up.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { blockHasData, fillPattern, type PatternSpec } from '../test/helpers/pattern-disk.js';
import { dropFromCache } from './page-cache.js';
import { formatTable, type ToolResult, toolResult } from './report.js';
import { runChecked, shellJoin, timeRotations } from './timing.js';

/** What the backup case needs from run.ts. */
export interface BackupCaseInput {
  raw: string;
  spec: PatternSpec;
  dataBytes: number;
  dir: string;
  vdiskBin: string;
  runs: number;
  log(text: string): void;
}

/** The backup case's results. */
export interface BackupCaseResult {
  dataBytes: number;
  /** vdisk backup create into a new repository, and tar --zstd. */
  first: ToolResult[];
  /** Unchanged re-runs: with the shortcut, and with --full. */
  unchanged: ToolResult[];
  /** The 1 % change: data blocks rewritten, chunks they touch, chunks the backup stored, its seconds. */
  changed: { blocks: number; touchedChunks: number; storedChunks: number; seconds: number };
  restore: ToolResult;
}

/** Backup chunk size (src/backup/layout.ts CHUNK_SIZE). */
const CHUNK = 4 * 1024 * 1024;
/** Seed of the rewritten blocks (any other than the disk's). */
const CHANGE_SEED = 0xbac0;

/** Rewrites every hundredth data block of `raw` with other bytes; returns the blocks and the chunks they touch. */
async function changeOnePercent(raw: string, spec: PatternSpec): Promise<{ blocks: number; touchedChunks: number }> {
  const handle = await open(raw, 'r+');
  const buf = new Uint8Array(spec.blockSize);
  const chunks = new Set<number>();
  let seen = 0;
  let blocks = 0;
  try {
    for (let i = 0; i * spec.blockSize < spec.size; i++) {
      if (!blockHasData(i, spec) || seen++ % 100 !== 0) continue;
      fillPattern(buf, i * spec.blockSize, CHANGE_SEED);
      await handle.write(buf, 0, Math.min(spec.blockSize, spec.size - i * spec.blockSize), i * spec.blockSize);
      for (let c = Math.floor((i * spec.blockSize) / CHUNK); c * CHUNK < (i + 1) * spec.blockSize; c++) chunks.add(c);
      blocks++;
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  return { blocks, touchedChunks: chunks.size };
}

/** Runs the backup case; the source is changed by it (run it last). */
export async function runBackupCase(input: BackupCaseInput): Promise<BackupCaseResult> {
  const { raw, dir, vdiskBin, runs, log } = input;
  mkdirSync(dir, { recursive: true });
  const repo = join(dir, 'repo');
  const tarOut = join(dir, 'src.tar.zst');
  const rss = join(dir, 'rss.txt');
  const vdisk = (...args: string[]) => [process.execPath, vdiskBin, ...args];
  const newRepo = (): void => {
    rmSync(repo, { recursive: true, force: true });
    runChecked(shellJoin(vdisk('backup', 'init', repo)));
  };
  const firstTools = [
    { tool: 'vdisk' as const, argv: vdisk('backup', 'create', repo, raw, '--name', 'disk') },
    { tool: 'tar' as const, argv: ['tar', '--zstd', '-cSf', tarOut, '-C', dirname(raw), '--', basename(raw)] },
  ];
  log('backup: first backup into a new repository, against tar --zstd (cold)');
  const first = timeRotations(runs, rss, {
    label: 'backup first',
    tools: firstTools,
    prepare: (i) => {
      if (i === 0) newRepo();
      rmSync(tarOut, { force: true });
      dropFromCache(raw);
      return firstTools[i]!.argv;
    },
    log,
  });
  rmSync(tarOut, { force: true });
  const againTools = [
    { tool: 'vdisk' as const, argv: vdisk('backup', 'create', repo, raw, '--name', 'disk') },
    { tool: 'vdisk' as const, argv: vdisk('backup', 'create', repo, raw, '--name', 'disk', '--full') },
  ];
  log('backup: unchanged re-runs, with the shortcut and with --full (cold)');
  const again = timeRotations(runs, rss, {
    label: 'backup unchanged',
    tools: againTools,
    prepare: (i) => {
      dropFromCache(raw);
      return againTools[i]!.argv;
    },
    log,
  });
  const out = join(dir, 'restored.raw');
  const restoreArgv = vdisk('backup', 'restore', repo, 'disk', '-O', 'raw', out);
  log('backup: restore to raw');
  const restored = timeRotations(runs, rss, {
    label: 'backup restore',
    tools: [{ tool: 'vdisk' }],
    prepare: () => {
      rmSync(out, { force: true });
      return restoreArgv;
    },
    log,
  });
  runChecked(shellJoin(['cmp', raw, out]));
  rmSync(out, { force: true });
  const change = await changeOnePercent(raw, input.spec);
  dropFromCache(raw);
  const t0 = process.hrtime.bigint();
  const summary = runChecked(shellJoin(vdisk('backup', 'create', repo, raw, '--name', 'disk')));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const stored = /(\d+) new/.exec(summary);
  if (!stored) throw new Error(`bench: no summary from backup create: ${summary}`);
  log(`  backup after 1 % changed: ${change.blocks} blocks rewritten, ${change.touchedChunks} chunks touched, ${stored[1]} stored, ${seconds.toFixed(3)} s`);
  return {
    dataBytes: input.dataBytes,
    first: firstTools.map((t, i) => toolResult(t.tool, shellJoin(t.argv), first.seconds[i]!, first.rss[i]!)),
    unchanged: againTools.map((t, i) => toolResult(t.tool, shellJoin(t.argv), again.seconds[i]!, again.rss[i]!)),
    changed: { ...change, storedChunks: Number(stored[1]), seconds },
    restore: toolResult('vdisk', shellJoin(restoreArgv), restored.seconds[0]!, restored.rss[0]!),
  };
}

/** The backup table: seconds (median), MB/s of data, the ratio each row is judged by, peak RSS. */
export function formatBackup(b: BackupCaseResult, runs: number): string[] {
  const mbs = (t: ToolResult) => (b.dataBytes / 1e6 / t.medianSeconds).toFixed(0);
  const [vdisk, tar] = b.first as [ToolResult, ToolResult];
  const [quick, full] = b.unchanged as [ToolResult, ToolResult];
  const rows = [
    ['backup (cold source)', 'seconds', 'MB/s of data', 'ratio', 'against', 'peak RSS MiB'],
    ['first backup', vdisk.medianSeconds.toFixed(3), mbs(vdisk), (vdisk.medianSeconds / tar.medianSeconds).toFixed(2), 'tar --zstd', vdisk.maxPeakRssMiB.toFixed(1)],
    ['tar --zstd -cSf', tar.medianSeconds.toFixed(3), mbs(tar), '', '', tar.maxPeakRssMiB.toFixed(1)],
    ['unchanged re-run', quick.medianSeconds.toFixed(3), mbs(quick), (quick.medianSeconds / vdisk.medianSeconds).toFixed(3), 'first backup', quick.maxPeakRssMiB.toFixed(1)],
    ['unchanged, --full', full.medianSeconds.toFixed(3), mbs(full), (full.medianSeconds / vdisk.medianSeconds).toFixed(3), 'first backup', full.maxPeakRssMiB.toFixed(1)],
    [`1 % changed (${b.changed.touchedChunks} chunks)`, b.changed.seconds.toFixed(3), '', (b.changed.storedChunks / b.changed.touchedChunks).toFixed(2), 'chunks stored/touched', ''],
    ['restore -O raw', b.restore.medianSeconds.toFixed(3), mbs(b.restore), '', '', b.restore.maxPeakRssMiB.toFixed(1)],
  ];
  return [`backup: vdisk backup into a local repository, median of ${runs}+ runs in rotation`, ...formatTable(rows)];
}
