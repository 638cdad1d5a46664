/**
 * Scale bench (`npm run bench:scale`; issue 21): conversion time must follow
 * the allocated data, not the virtual size. For each virtual size it writes a
 * sparse raw disk holding the same 10 MiB of data (five 2 MiB pattern blocks
 * spread from the first to the last block), makes a dynamic VHD and a VHDX of
 * it with vdisk, and times cold (each source dropped from the page cache
 * before every run, each command followed by sync, order rotated) the
 * conversions raw→vhd, vhd→raw, raw→vhdx and vhdx→raw with vdisk and
 * qemu-img. Every vdisk output is checked with `qemu-img compare` against
 * the raw disk, except VHDX outputs past VHDX_CHECK_MAX: qemu's vhdx driver
 * reports no block status, so qemu-img reads every byte of the guest view
 * (a 2000 GiB VHDX took it over a minute to convert, and as long to
 * compare).
 *
 *   npm run bench:scale -- [--runs N] [--sizes 1G,16G,256G,2000G]
 *
 * The temporary directory goes under VDISK_BENCH_DIR (else the OS temp dir);
 * the table is printed and written to bench-out/scale.json.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DiskFile } from '../src/io/file.js';
import { formatSize, parseSize } from '../src/util/sizes.js';
import { fillPattern } from '../test/helpers/pattern-disk.js';
import { dropFromCache } from './page-cache.js';
import { type BenchFormat, QEMU_FORMAT } from './qemu-formats.js';
import { median, requireTools, runChecked, shellJoin, timeRotations } from './timing.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const VDISK_BIN = join(ROOT, 'bin', 'vdisk.js');
const BLOCK = 2 * 1024 ** 2;
/** Largest VHDX output checked with qemu-img compare (see the header). */
const VHDX_CHECK_MAX = 256 * 1024 ** 3;
/** Data blocks in every disk: 10 MiB whatever the virtual size. */
const DATA_BLOCKS = 5;
const PAIRS: [BenchFormat, BenchFormat][] = [
  ['raw', 'vhd'],
  ['vhd', 'raw'],
  ['raw', 'vhdx'],
  ['vhdx', 'raw'],
];

/** One row of the table: a virtual size and, per pair, the median seconds of each tool. */
interface ScaleRow {
  size: number;
  pairs: { pair: string; vdisk: number; qemuImg: number; vdiskRssMiB: number }[];
}

/** Writes a sparse raw disk of `size` bytes with DATA_BLOCKS pattern blocks spread evenly, the first at 0 and the last at the end. */
async function writeSpreadDisk(path: string, size: number): Promise<void> {
  const file = await DiskFile.open(path, 'create');
  const blocks = Math.floor(size / BLOCK);
  const buf = new Uint8Array(BLOCK);
  try {
    await file.truncate(size);
    for (let k = 0; k < DATA_BLOCKS; k++) {
      const at = Math.floor((k * (blocks - 1)) / (DATA_BLOCKS - 1)) * BLOCK;
      fillPattern(buf, at);
      await file.write(buf, at);
    }
    await file.sync();
  } finally {
    await file.close();
  }
}

/** Times one pair cold with vdisk and qemu-img, checks vdisk's output, and removes the outputs. */
function timePair(dir: string, [from, to]: [BenchFormat, BenchFormat], runs: number, size: number): ScaleRow['pairs'][number] {
  const src = join(dir, `src.${from}`);
  const out = (tool: string) => join(dir, `out-${tool}.${to}`);
  const subformat = to === 'raw' ? [] : ['-o', 'subformat=dynamic'];
  const argv = [
    (dst: string) => [process.execPath, VDISK_BIN, 'convert', '-O', to, src, dst],
    (dst: string) => ['qemu-img', 'convert', '-f', QEMU_FORMAT[from], '-O', QEMU_FORMAT[to], ...subformat, src, dst],
  ];
  const tools = [{ tool: 'vdisk' }, { tool: 'qemu-img' }];
  const { seconds, rss } = timeRotations(runs, join(dir, 'rss.txt'), {
    label: `${from}→${to}`,
    tools,
    log: (text) => process.stderr.write(`${text}\n`),
    prepare: (i) => {
      rmSync(out(tools[i]!.tool), { force: true });
      runChecked('sync');
      dropFromCache(src);
      return argv[i]!(out(tools[i]!.tool));
    },
  });
  if (to !== 'vhdx' || size <= VHDX_CHECK_MAX) runChecked(shellJoin(['qemu-img', 'compare', '-q', '-f', 'raw', '-F', QEMU_FORMAT[to], join(dir, 'src.raw'), out('vdisk')]));
  for (const t of tools) rmSync(out(t.tool), { force: true });
  return { pair: `${from}→${to}`, vdisk: median(seconds[0]!), qemuImg: median(seconds[1]!), vdiskRssMiB: Math.max(...rss[0]!) / 1024 };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, sizes: { type: 'string', default: '1G,16G,256G,2000G' } } });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`bench:scale: --runs takes a positive integer, not '${values.runs}'`);
  const sizes = values.sizes.split(',').map((s) => parseSize(s));
  requireTools();
  const dir = mkdtempSync(join(resolve(process.env.VDISK_BENCH_DIR || tmpdir()), 'vdisk-scale-'));
  const rows: ScaleRow[] = [];
  try {
    for (const size of sizes) {
      const raw = join(dir, 'src.raw');
      await writeSpreadDisk(raw, size);
      for (const f of ['vhd', 'vhdx'] as const) runChecked(shellJoin([process.execPath, VDISK_BIN, 'convert', '-O', f, raw, join(dir, `src.${f}`)]));
      runChecked('sync');
      rows.push({ size, pairs: PAIRS.map((p) => timePair(dir, p, runs, size)) });
      for (const f of ['raw', 'vhd', 'vhdx']) rmSync(join(dir, `src.${f}`), { force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const outDir = join(ROOT, 'bench-out');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'scale.json'), `${JSON.stringify({ date: new Date().toISOString(), runs, dataBytes: DATA_BLOCKS * BLOCK, rows }, null, 2)}\n`);
  const head = ['virtual size', ...PAIRS.map(([a, b]) => `${a}→${b} vdisk / qemu-img s`), 'vdisk peak RSS MiB'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) {
    const cells = r.pairs.map((p) => `${p.vdisk.toFixed(3)} / ${p.qemuImg.toFixed(3)}`);
    lines.push(`| ${formatSize(r.size)} | ${cells.join(' | ')} | ${Math.max(...r.pairs.map((p) => p.vdiskRssMiB)).toFixed(0)} |`);
  }
  console.log(`cold, ${formatSize(DATA_BLOCKS * BLOCK)} of data, median of ${runs} (whole rotations)\n${lines.join('\n')}`);
}

try {
  await main();
} catch (e) {
  process.stderr.write(`${(e as Error).message}\n`);
  process.exitCode = 1;
}
