/**
 * `vdisk measure -O qcow2` (src/formats/qcow2/measure.ts): the exact size of
 * the file `convert -O qcow2` writes, for every writer option, and how it
 * compares with `qemu-img measure -O qcow2`.
 */
import assert from 'node:assert/strict';
import { closeSync, ftruncateSync, openSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { nonZeroSpans } from '../../../src/engine/scan.js';
import { planNewImage } from '../../../src/formats/qcow2/layout.js';
import { openImage } from '../../../src/formats/registry.js';
import { convert } from '../../../src/ops/convert.js';
import { measure } from '../../../src/ops/measure.js';
import { parseSize } from '../../../src/util/sizes.js';
import { blocksWithData } from '../../../src/util/spans.js';
import { rejectsWithCode } from '../../helpers/assert-error.js';
import { needTools, run } from '../../helpers/oracles.js';
import { fillPattern, writePatternDisk } from '../../helpers/pattern-disk.js';
import { tempDir } from '../../helpers/tmp.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Odd sizes: a whole number of sectors, of no cluster size and no 64 KiB scan run. */
const ENDS_SIZE = 520 * MiB + 1536;
const PATTERN_SIZE = 40 * MiB + 1536;

/**
 * A raw disk of ENDS_SIZE bytes with data at both ends and a hole in the
 * middle: 1 MiB + 4 KiB at the start, the last 1 MiB + 1536 bytes (the
 * odd tail), past the first 512 MiB, so 64 KiB clusters need two L2 tables.
 */
function writeEndsDisk(path: string): void {
  const fd = openSync(path, 'wx');
  try {
    ftruncateSync(fd, ENDS_SIZE);
    for (const [at, length] of [
      [0, MiB + 4 * KiB],
      [ENDS_SIZE - MiB - 1536, MiB + 1536],
    ] as const) {
      const buf = new Uint8Array(length);
      fillPattern(buf, at);
      writeSync(fd, buf, 0, length, at);
    }
  } finally {
    closeSync(fd);
  }
}

/** Two sources: data at both ends around a hole, and 256 KiB blocks of data among holes all along. */
async function sources(): Promise<string[]> {
  const dir = tempDir();
  const ends = join(dir, 'ends.raw');
  writeEndsDisk(ends);
  const pattern = join(dir, 'pattern.raw');
  await writePatternDisk(pattern, { size: PATTERN_SIZE, blockSize: 256 * KiB, fraction: 0.7 });
  return [ends, pattern];
}

/** Options measured against a real conversion of every source. */
const OPTIONS: Record<string, string>[] = [
  {},
  { cluster_size: '512' },
  { cluster_size: '4K' },
  { cluster_size: '2M' },
  { extended_l2: 'on' },
  { extended_l2: 'on', cluster_size: '16K' },
  { compat: '0.10' },
  { lazy_refcounts: 'on' },
  { preallocation: 'metadata' },
  { preallocation: 'full' },
];

/** Options measured on the small source only (every cluster of the disk is mapped). */
const SMALL_ONLY: Record<string, string>[] = [
  { preallocation: 'metadata', cluster_size: '512' },
  { preallocation: 'full', cluster_size: '4K' },
  { preallocation: 'metadata', extended_l2: 'on' },
];

/** The file size convert -O qcow2 writes with these options, and what measure says of it. */
async function convertAndMeasure(src: string, options: Record<string, string>, out: string): Promise<{ written: number; measured: Awaited<ReturnType<typeof measure>> }> {
  const measured = await measure(src, 'qcow2', { options });
  await convert(src, out, { outputFormat: 'qcow2', options });
  return { written: statSync(out).size, measured };
}

test('measure -O qcow2 is the size of the file convert writes, for every option', async () => {
  const [ends, pattern] = await sources();
  const dir = tempDir();
  let n = 0;
  for (const [src, options] of [...[ends!, pattern!].flatMap((s) => OPTIONS.map((o) => [s, o] as const)), ...SMALL_ONLY.map((o) => [pattern!, o] as const)]) {
    const out = join(dir, `out${n++}.qcow2`);
    const { written, measured } = await convertAndMeasure(src, options, out);
    const what = `${src} ${JSON.stringify(options)}`;
    assert.equal(measured.fileSize, written, what);
    assert.ok(measured.allocatedBytes >= measured.dataBytes && measured.allocatedBytes <= measured.fileSize, what);
    assert.ok(measured.dataBytes > 0 && measured.dataBytes < measured.virtualSize, what);
    if (options.preallocation === 'full') assert.equal(measured.allocatedBytes, measured.fileSize, what);
  }
});

test('measure -O qcow2 counts the refcount tables the writer outgrows (512-byte clusters)', async () => {
  const [, pattern] = await sources();
  const options = { cluster_size: '512' };
  const { written, measured } = await convertAndMeasure(pattern!, options, join(tempDir(), 'small.qcow2'));
  const image = await openImage(pattern!);
  const spans = await nonZeroSpans(image).finally(() => image.close());
  const laidOut = planNewImage({ clusterBits: 9, extended: false, l1Size: Math.ceil(PATTERN_SIZE / (512 * 64)), dataClusters: blocksWithData(spans, 512) });
  // Laid out at once the image would be smaller: the writer's table grows 1 → 3 → 6 clusters as the data comes, and the outgrown ones stay in the file.
  assert.ok(laidOut.end * 512 < written, `${laidOut.end * 512} < ${written}`);
  assert.equal(measured.fileSize, written);
});

test('measure -O qcow2 refuses what convert refuses, and compressed output it cannot predict', async () => {
  const [, pattern] = await sources();
  await rejectsWithCode(measure(pattern!, 'qcow2', { options: { cluster_size: '3K' } }), 'USAGE');
  await rejectsWithCode(measure(pattern!, 'qcow2', { options: { compat: '0.10', extended_l2: 'on' } }), 'USAGE');
  await rejectsWithCode(measure(pattern!, 'qcow2', { options: { compressed: 'on' } }), 'UNSUPPORTED');
});

/** `qemu-img measure -O qcow2` of a raw file, in bytes. */
function qemuMeasure(src: string, options: Record<string, string>): { required: number; fullyAllocated: number } {
  const o = Object.entries(options).map(([k, v]) => `${k}=${v}`);
  const r = run('qemu-img', ['measure', '--output=json', '-f', 'raw', '-O', 'qcow2', ...(o.length ? ['-o', o.join(',')] : []), src]);
  const j = JSON.parse(r.stdout) as { required: number; 'fully-allocated': number };
  return { required: j.required, fullyAllocated: j['fully-allocated'] };
}

/**
 * qemu-img measure counts the metadata of the fully allocated image in its
 * "required size" (block/qcow2.c qcow2_measure: every L2 table of the disk
 * and the refcounts of every cluster), and the data clusters by the
 * source's allocation; vdisk counts the L2 tables and refcount blocks the
 * writer writes, and the clusters holding a non-zero 64 KiB run. With
 * clusters of 64 KiB or more, one L2 table maps 256 MiB (extended) or
 * 512 MiB and one refcount block counts 2 GiB, so on these sources the
 * metadata qemu counts and vdisk writes differ by at most one L2 table over
 * the hole (extended L2: the disk has three 256 MiB ranges, the middle one
 * empty); two clusters of tolerance. With smaller clusters qemu counts an
 * L2 table for every range of the hole and refcount blocks for the whole
 * disk: its figure is an upper bound there. Its "fully allocated size"
 * counts what preallocation=full writes: header, every L2 table, L1,
 * refcounts and every data cluster, as planNewImage lays them out.
 */
test('measure -O qcow2 and qemu-img measure -O qcow2: required and fully allocated sizes', async (t) => {
  if (!needTools(t, 'qemu-img')) return;
  const [ends, pattern] = await sources();
  for (const src of [ends!, pattern!]) {
    for (const options of OPTIONS.filter((o) => o.preallocation === undefined)) {
      const what = `${src} ${JSON.stringify(options)}`;
      const vdisk = await measure(src, 'qcow2', { options });
      const full = await measure(src, 'qcow2', { options: { ...options, preallocation: 'full' } });
      const qemu = qemuMeasure(src, options);
      const cluster = parseSize(options.cluster_size ?? '64K');
      assert.equal(full.fileSize, qemu.fullyAllocated, what);
      if (cluster >= 64 * KiB) assert.ok(Math.abs(qemu.required - vdisk.fileSize) <= 2 * cluster, `${what}: qemu ${qemu.required}, vdisk ${vdisk.fileSize}`);
      else assert.ok(vdisk.fileSize <= qemu.required, `${what}: qemu ${qemu.required}, vdisk ${vdisk.fileSize}`);
    }
  }
});
