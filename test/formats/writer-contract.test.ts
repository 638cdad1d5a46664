/**
 * What every writable format with blocks must do the same way, run for each
 * format whose descriptor can create images and declares block sizes (at its
 * smallest block, or 64 KiB when that is smaller): concurrent writes into one new block, writeZeroes that
 * allocates nothing for zeros, and OUT_OF_RANGE for accesses outside the disk.
 */
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createImage, formats, openImage } from '../../src/formats/registry.js';
import type { DiskImage, WritableDiskImage } from '../../src/formats/types.js';
import { rejectsWithCode } from '../helpers/assert-error.js';
import { extentsOf, readAll, same, writeBoth } from '../helpers/images.js';
import { tempDir } from '../helpers/tmp.js';

/** A format under test: how to make a dynamic image with `block`-byte blocks, and checks of its own. */
interface WriterUnderTest {
  name: string;
  ext: string;
  block: number;
  create(path: string, size: number): Promise<WritableDiskImage>;
  /** Checks on the reopened image after 16 + 4 concurrent writes into blocks 4 and 7. */
  afterConcurrent?(image: DiskImage): void;
}

/** Checks some formats add after the concurrent writes (what their info says of the blocks). */
const AFTER_CONCURRENT: Record<string, (image: DiskImage) => void> = {
  vhdx: (image) => assert.deepEqual(image.describe().formatSpecific!.blockStates, { fullyPresent: 2, notPresent: 6 }),
};

/** Smallest block the concurrent-write pattern fits in (16 writes 8 KiB apart, then 4 more at the start of block 7). */
const PATTERN_BLOCK = 64 * 1024;

const WRITERS: WriterUnderTest[] = formats()
  .filter((f) => f.create && f.blockSizes)
  .map((f) => {
    const block = Math.max(f.blockSizes!.min, PATTERN_BLOCK);
    return {
      name: `dynamic ${f.name.toUpperCase()}`,
      ext: f.extension,
      block,
      create: (path, size) => createImage(path, f.name, { virtualSize: size, options: { [f.blockSizeOption ?? 'block_size']: String(block) } }),
      afterConcurrent: AFTER_CONCURRENT[f.name],
    };
  });

async function reopened(image: WritableDiskImage, path: string, check: (again: DiskImage) => Promise<void>): Promise<void> {
  await image.close();
  const again = await openImage(path);
  try {
    await check(again);
  } finally {
    await again.close();
  }
}

for (const w of WRITERS) {
  const B = w.block;
  const SIZE = 8 * B;

  describe(`${w.name} writer contract`, () => {
    it('concurrent aligned writes into the same new blocks all land', async () => {
      const path = join(tempDir(), `c.${w.ext}`);
      const model = new Uint8Array(SIZE);
      const image = await w.create(path, SIZE);
      const jobs: Promise<void>[] = [];
      for (let k = 0; k < 16; k++) jobs.push(writeBoth(image, model, 4 * B + k * 8192, 4096, 100 + k));
      for (let k = 0; k < 4; k++) jobs.push(writeBoth(image, model, 7 * B + k * 512, 512, 200 + k));
      await Promise.all(jobs);
      await image.flush();
      await reopened(image, path, async (again) => {
        assert.ok(same(await readAll(again), model));
        w.afterConcurrent?.(again);
      });
    });

    it('writeZeroes zeroes allocated ranges and allocates nothing for blocks that read as zeros', async () => {
      const path = join(tempDir(), `z.${w.ext}`);
      const model = new Uint8Array(SIZE);
      const image = await w.create(path, SIZE);
      await writeBoth(image, model, 0, 3 * B, 7);
      await image.flush();
      const before = statSync(path).size;
      const zero = async (o: number, l: number) => {
        await image.writeZeroes(o, l);
        model.fill(0, o, o + l);
      };
      await zero(1000, B + 5000);
      await zero(2 * B + 511, 3);
      await zero(5 * B, 2 * B);
      await zero(SIZE - 700, 700);
      assert.ok(same(await readAll(image), model), 'before flush');
      await image.flush();
      assert.equal(statSync(path).size, before, 'no block was allocated for zeros');
      await reopened(image, path, async (again) => {
        assert.ok(same(await readAll(again), model));
        const ext = await extentsOf(again);
        assert.deepEqual(ext.slice(-1), [{ offset: 3 * B, length: 5 * B, kind: 'unallocated', depth: 0 }]);
      });
    });

    it('refuses reads and writes outside the disk with OUT_OF_RANGE', async () => {
      const image = await w.create(join(tempDir(), `r.${w.ext}`), SIZE);
      try {
        await rejectsWithCode(image.writeAt(new Uint8Array(2), SIZE - 1), 'OUT_OF_RANGE');
        await rejectsWithCode(image.writeAt(new Uint8Array(512), -512), 'OUT_OF_RANGE');
        await rejectsWithCode(image.writeAt(new Uint8Array(1), 2 ** 53), 'OUT_OF_RANGE');
        await rejectsWithCode(image.readAt(new Uint8Array(1), SIZE), 'OUT_OF_RANGE');
        await rejectsWithCode(image.readAt(new Uint8Array(1), 0.5), 'OUT_OF_RANGE');
      } finally {
        await image.close();
      }
    });
  });
}
