import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { copyImage } from '../../src/engine/copy.js';
import { DiskFile } from '../../src/io/file.js';
import { createImage, openImage } from '../../src/formats/registry.js';
import type { WritableDiskImage } from '../../src/formats/types.js';
import { fillPattern } from '../helpers/pattern-disk.js';
import { readAll } from '../helpers/images.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;

/** A raw file with data at 1 MiB, explicitly written zeros at 4-8 MiB, and one non-zero byte at 10 MiB + 70000. */
async function mixedRaw(path: string): Promise<void> {
  const f = await DiskFile.open(path, 'create');
  await f.truncate(16 * MiB);
  const data = new Uint8Array(MiB);
  fillPattern(data, MiB);
  await f.write(data, MiB);
  await f.write(new Uint8Array(4 * MiB), 4 * MiB);
  await f.write(new Uint8Array(MiB).fill(0, 0), 10 * MiB);
  await f.write(Uint8Array.of(7), 10 * MiB + 70000);
  await f.sync();
  await f.close();
}

test('copy skips zero runs: written zeros stay unallocated in the target', async () => {
  const dir = tempDir();
  const src = join(dir, 'src.raw');
  await mixedRaw(src);
  const source = await openImage(src);
  const target = await createImage(join(dir, 'out.vhd'), 'vhd', { virtualSize: source.virtualSize, options: { block_size: '512K' } });
  const progress: number[] = [];
  const stats = await copyImage(source, target, { onProgress: (done) => progress.push(done) });
  await target.flush();
  assert.equal(stats.dataBytes >= 6 * MiB, true, `data bytes ${stats.dataBytes}`);
  assert.equal(stats.writtenBytes, MiB + 64 * 1024);
  assert.ok(progress.length > 0 && progress[progress.length - 1] === stats.dataBytes);
  const blocks: number[] = [];
  for await (const e of target.extents(undefined, true)) if (e.kind === 'data') blocks.push(e.offset);
  assert.deepEqual(blocks, [MiB, 10 * MiB]);
  assert.deepEqual(Buffer.from(await readAll(target)), Buffer.from(await readAll(source)));
  await target.close();
  await source.close();
});

test('raw to raw output is sparse where the source held zeros', async () => {
  const dir = tempDir();
  const src = join(dir, 'src.raw');
  await mixedRaw(src);
  const source = await openImage(src);
  const out = join(dir, 'out.raw');
  const target = await createImage(out, 'raw', { virtualSize: source.virtualSize, options: {} });
  await copyImage(source, target);
  await target.flush();
  await target.close();
  await source.close();
  assert.ok(statSync(out).blocks * 512 <= MiB + 64 * 1024 + 8192, `allocated ${statSync(out).blocks * 512}`);
  assert.ok(statSync(src).blocks * 512 >= 6 * MiB);
});

test('copy refuses a target smaller than the source', async () => {
  const dir = tempDir();
  const src = join(dir, 'src.raw');
  await mixedRaw(src);
  const source = await openImage(src);
  const target = await createImage(join(dir, 'small.raw'), 'raw', { virtualSize: MiB, options: {} });
  await assert.rejects(copyImage(source, target), /smaller than the source/);
  await target.close();
  await source.close();
});

test('overwrite zeroes the target wherever the source reads as zeros: zero runs, zero extents and holes', async () => {
  const dir = tempDir();
  const src = join(dir, 'src.raw');
  await mixedRaw(src);
  const source = await openImage(src);
  const dst = join(dir, 'old.raw');
  const old = await DiskFile.open(dst, 'create');
  await old.write(new Uint8Array(16 * MiB).fill(0xa5), 0);
  await old.close();
  const target = await openImage(dst, { writable: true });
  const stats = await copyImage(source, target as WritableDiskImage, { overwrite: true });
  await (target as WritableDiskImage).flush();
  assert.equal(stats.writtenBytes, MiB + 64 * 1024);
  assert.deepEqual(Buffer.from(await readAll(target)), Buffer.from(await readAll(source)));
  await target.close();
  await source.close();
});
