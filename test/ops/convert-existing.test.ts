import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { DiskImageError } from '../../src/errors.js';
import { convert } from '../../src/ops/convert.js';
import { create } from '../../src/ops/create.js';
import { writePatternDisk } from '../helpers/pattern-disk.js';
import { vdisk } from '../helpers/cli.js';
import { needRoot, needTools, run } from '../helpers/oracles.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;

/** A source with data, an all-zero data block and holes: 8 MiB, pattern in half of the 1 MiB blocks, block 1 written as zeros. */
async function source(dir: string): Promise<string> {
  const raw = join(dir, 'src.raw');
  await writePatternDisk(raw, { size: 8 * MiB, blockSize: MiB, fraction: 0.5, seed: 7 });
  const bytes = readFileSync(raw);
  bytes.fill(0, MiB, 2 * MiB);
  writeFileSync(raw, bytes);
  return raw;
}

/** An old disk full of other data, larger than the source. */
async function oldDisk(path: string, size: number): Promise<void> {
  await writePatternDisk(path, { size, blockSize: MiB, fraction: 1, seed: 99 });
}

const isUsage = (e: unknown) => e instanceof DiskImageError && e.code === 'USAGE';

test('-n into an existing raw file: the source range is replaced, holes stay holes, bytes past the source stay', async () => {
  const dir = tempDir();
  const src = await source(dir);
  const dst = join(dir, 'old.raw');
  await oldDisk(dst, 10 * MiB);
  const tail = readFileSync(dst).subarray(8 * MiB);
  await convert(src, dst, { existing: true, outputFormat: 'raw' });
  const out = readFileSync(dst);
  assert.equal(out.length, 10 * MiB);
  assert.ok(out.subarray(0, 8 * MiB).equals(readFileSync(src)), 'source range');
  assert.ok(out.subarray(8 * MiB).equals(tail), 'bytes past the source untouched');

  // A fresh sparse target: zero ranges of the source are holes of the target and are left alone.
  const sparse = join(dir, 'sparse.raw');
  writeFileSync(sparse, '');
  await truncate(sparse, 8 * MiB);
  await convert(src, sparse, { existing: true });
  assert.ok(readFileSync(sparse).equals(readFileSync(src)));
  const nonZeroMiB = [...Array(8).keys()].filter((i) => readFileSync(src).subarray(i * MiB, (i + 1) * MiB).some((b) => b !== 0)).length;
  assert.ok(statSync(sparse).blocks * 512 <= nonZeroMiB * MiB, `allocated ${statSync(sparse).blocks * 512}, data ${nonZeroMiB} MiB`);
});

test('-n zeroes a preallocated raw file in place and keeps it allocated', async () => {
  const dir = tempDir();
  const src = await source(dir);
  const dst = join(dir, 'full.raw');
  await oldDisk(dst, 8 * MiB);
  const before = statSync(dst).blocks;
  await convert(src, dst, { existing: true });
  assert.ok(readFileSync(dst).equals(readFileSync(src)));
  assert.ok(statSync(dst).blocks >= before, 'allocation kept (fallocate ZERO_RANGE, not a hole)');
});

test('-n into existing dynamic VHD and VHDX images holding other data equals the source (qemu-img compare)', async (t) => {
  if (!needTools(t, 'qemu-img')) return;
  const dir = tempDir();
  const src = await source(dir);
  const old = join(dir, 'old.raw');
  await oldDisk(old, 8 * MiB);
  for (const [format, qemuFormat] of [['vhd', 'vpc'], ['vhdx', 'vhdx']] as const) {
    const dst = join(dir, `old.${format}`);
    await convert(old, dst, { outputFormat: format, options: { block_size: '1M' } });
    const uuid = JSON.parse(vdisk('info', '--json', dst).stdout).uuid;
    const r = vdisk('convert', '-n', '-O', format, src, dst);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(run('qemu-img', ['compare', '-f', 'raw', '-F', qemuFormat, src, dst], true).status, 0, `${format} equals the source`);
    assert.equal(JSON.parse(vdisk('info', '--json', dst).stdout).uuid, uuid, `${format} keeps its identity`);
    assert.equal(vdisk('check', dst).status, 0, `${format} checks clean`);
  }
});

test('-n into an empty image made by vdisk create', async () => {
  const dir = tempDir();
  const src = await source(dir);
  const dst = join(dir, 'new.vhd');
  await create(dst, { format: 'vhd', size: 8 * MiB, options: {} });
  await convert(src, dst, { existing: true });
  const back = join(dir, 'back.raw');
  await convert(dst, back, { outputFormat: 'raw' });
  assert.ok(readFileSync(back).equals(readFileSync(src)));
});

test('-n refuses what it cannot do, without touching DST', async () => {
  const dir = tempDir();
  const src = await source(dir);
  const small = join(dir, 'small.raw');
  await oldDisk(small, 4 * MiB);
  const smallBytes = readFileSync(small);
  await assert.rejects(convert(src, small, { existing: true }), (e: unknown) => isUsage(e) && /less than/.test(String(e)));
  await assert.rejects(convert(src, small, { existing: true, outputFormat: 'vhd' }), (e: unknown) => isUsage(e) && /is a raw image, not vhd/.test(String(e)));
  await assert.rejects(convert(src, small, { existing: true, keepUuid: true }), isUsage);
  await assert.rejects(convert(src, src, { existing: true }), (e: unknown) => isUsage(e) && /the source image/.test(String(e)));
  await assert.rejects(convert(src, join(dir, 'absent.raw'), { existing: true }), (e: unknown) => e instanceof DiskImageError && e.code === 'IO');
  assert.ok(readFileSync(small).equals(smallBytes));
  const r = vdisk('convert', '-n', '-O', 'raw', src, '-');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^vdisk: [^\n]*not stdout \(USAGE\)\n$/);
});

test('-n writes into a block device (a loop device over a file)', async (t) => {
  if (!needRoot(t, 'attaches a loop device')) return;
  const dir = tempDir();
  const src = await source(dir);
  const backing = join(dir, 'backing.img');
  await oldDisk(backing, 12 * MiB);
  const attach = run('losetup', ['--find', '--show', backing], true);
  if (attach.status !== 0) return t.skip(`no loop device here: ${attach.stderr.trim()}`);
  const dev = attach.stdout.trim();
  try {
    const info = JSON.parse(vdisk('info', '--json', dev).stdout);
    assert.equal(info.virtualSize, 12 * MiB, 'block device size from sysfs');
    const r = vdisk('convert', '-n', '-O', 'raw', src, dev);
    assert.equal(r.status, 0, r.stderr);
  } finally {
    run('losetup', ['-d', dev], true);
  }
  const out = readFileSync(backing);
  assert.ok(out.subarray(0, 8 * MiB).equals(readFileSync(src)));
});
