import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createImage, openImage } from '../../../src/formats/registry.js';
import type { Extent, WritableDiskImage } from '../../../src/formats/types.js';
import { fillPattern } from '../../helpers/pattern-disk.js';
import { extentsOf, readAll, same, writeBoth } from '../../helpers/images.js';
import { tempDir } from '../../helpers/tmp.js';
import { VHD, createPatternVhd, readBytes } from '../../helpers/vhd.js';

const BLOCK = 512 * 1024;
const SIZE = 8 * BLOCK;
/** A differencing child is written in whole 4 KiB units (one sector-bitmap byte). */
const UNIT = 4096;

/** A small deterministic generator of non-negative integers (numerical recipes LCG). */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state >>> 8;
  };
}

/** A base with blocks 0, 1, 3 of pattern data and a child holding the writes below; returns the model. */
async function makeChain(dir: string): Promise<{ base: string; child: string; model: Uint8Array }> {
  const base = join(dir, 'base.vhd');
  const child = join(dir, 'child.vhd');
  const { model } = await createPatternVhd(base, { size: SIZE, blockSize: BLOCK, blocks: [0, 1, 3], seed: 0x1111 });
  const parent = await openImage(base);
  const image = await createImage(child, 'vhd', { virtualSize: SIZE, options: { block_size: '512K' }, parent });
  try {
    await writeBoth(image, model, 1536, 1024, 0x2222);
    await writeBoth(image, model, 700, 100, 0x3333);
    await writeBoth(image, model, 5 * BLOCK + 4096, 8192, 0x4444);
    await writeBoth(image, model, 2 * BLOCK - 10, 20, 0x5555);
    await image.flush();
  } finally {
    await image.close();
  }
  return { base, child, model };
}

describe('differencing VHD', () => {
  it('reads the child\'s writes over the parent\'s data, before and after reopening', async () => {
    const { base, child, model } = await makeChain(tempDir());
    const image = await openImage(child);
    try {
      assert.equal(image.describe().subformat, 'differencing');
      assert.equal(image.parent?.path, base);
      assert.ok(same(await readAll(image), model));
      const piece = new Uint8Array(3000);
      await image.readAt(piece, 2 * BLOCK - 1500);
      assert.ok(same(piece, model.subarray(2 * BLOCK - 1500, 2 * BLOCK + 1500)));
    } finally {
      await image.close();
    }
  });

  it('reports extents at 4 KiB granularity: depth 0 for the units the child wrote, depth 1 elsewhere', async () => {
    const { child } = await makeChain(tempDir());
    const image = await openImage(child);
    try {
      assert.deepEqual(await extentsOf(image), [
        { offset: 0, length: UNIT, kind: 'data', depth: 0 },
        { offset: UNIT, length: 2 * BLOCK - 2 * UNIT, kind: 'data', depth: 1 },
        { offset: 2 * BLOCK - UNIT, length: 2 * UNIT, kind: 'data', depth: 0 },
        { offset: 2 * BLOCK + UNIT, length: BLOCK - UNIT, kind: 'unallocated', depth: 1 },
        { offset: 3 * BLOCK, length: BLOCK, kind: 'data', depth: 1 },
        { offset: 4 * BLOCK, length: BLOCK + UNIT, kind: 'unallocated', depth: 1 },
        { offset: 5 * BLOCK + UNIT, length: 2 * UNIT, kind: 'data', depth: 0 },
        { offset: 5 * BLOCK + 3 * UNIT, length: 3 * BLOCK - 3 * UNIT, kind: 'unallocated', depth: 1 },
      ]);
      const own = await extentsOf(image, true);
      assert.deepEqual(
        own.filter((e) => e.kind === 'data').map((e) => [e.offset, e.length, e.depth]),
        [[0, UNIT, 0], [2 * BLOCK - UNIT, 2 * UNIT, 0], [5 * BLOCK + UNIT, 2 * UNIT, 0]],
      );
      assert.ok(own.every((e) => e.depth === 0 && e.kind !== 'zero'));
      const ranged: Extent[] = [];
      for await (const e of image.extents({ offset: 1000, length: 1000 })) ranged.push(e);
      assert.deepEqual(ranged, [{ offset: 1000, length: 1000, kind: 'data', depth: 0 }]);
      ranged.length = 0;
      for await (const e of image.extents({ offset: 3000, length: 2000 })) ranged.push(e);
      assert.deepEqual(ranged, [
        { offset: 3000, length: UNIT - 3000, kind: 'data', depth: 0 },
        { offset: UNIT, length: 5000 - UNIT, kind: 'data', depth: 1 },
      ]);
    } finally {
      await image.close();
    }
  });

  it('sectors in 4 KiB units the child touched are frozen at write time; untouched units follow later changes of the parent', async () => {
    const { base, child, model } = await makeChain(tempDir());
    const parent = (await openImage(base, { writable: true })) as WritableDiskImage;
    const fresh = new Uint8Array(2 * UNIT);
    fillPattern(fresh, 0, 0x7777);
    await parent.writeAt(fresh, 0);
    const freshAtBoundary = new Uint8Array(4 * UNIT);
    fillPattern(freshAtBoundary, 2 * BLOCK - 2 * UNIT, 0x8888);
    await parent.writeAt(freshAtBoundary, 2 * BLOCK - 2 * UNIT);
    await parent.flush();
    await parent.close();
    // Every sector of unit 0 changed in the parent, so "frozen" and "follows" are told apart.
    for (let s = 0; s < UNIT; s += 512) assert.ok(!same(fresh.subarray(s, s + 512), model.subarray(s, s + 512)), `sector ${s / 512} changed in the parent`);
    const image = await openImage(child);
    try {
      const got = new Uint8Array(2 * UNIT);
      await image.readAt(got, 0);
      assert.ok(same(got.subarray(0, 512), model.subarray(0, 512)), 'sector 0 (never written by the caller) was copied into the child');
      assert.ok(same(got.subarray(512, 700), model.subarray(512, 700)), 'the unwritten head of sector 1 was copied too');
      assert.ok(same(got.subarray(700, 800), model.subarray(700, 800)), 'bytes 700-799 are the child\'s');
      assert.ok(same(got.subarray(800, 1536), model.subarray(800, 1536)), 'the rest of sector 1 and sector 2 were copied into the child');
      assert.ok(same(got.subarray(1536, 2560), model.subarray(1536, 2560)), 'sectors 3-4 are the child\'s');
      assert.ok(same(got.subarray(2560, UNIT), model.subarray(2560, UNIT)), 'sectors 5-7 were copied into the child');
      assert.ok(same(got.subarray(UNIT), fresh.subarray(UNIT)), 'sectors 8-15 (an untouched unit) come from the parent as it is now');

      const around = new Uint8Array(4 * UNIT);
      await image.readAt(around, 2 * BLOCK - 2 * UNIT);
      assert.ok(same(around.subarray(0, UNIT), freshAtBoundary.subarray(0, UNIT)), 'the unit before the touched ones follows the parent');
      const frozen = new Uint8Array(2 * UNIT);
      frozen.set(model.subarray(2 * BLOCK - UNIT, 2 * BLOCK + UNIT));
      assert.ok(same(around.subarray(UNIT, 3 * UNIT), frozen), 'the two touched units keep what the parent held at write time');
      assert.ok(frozen.subarray(UNIT + 10).every((v) => v === 0), 'block 2 was unallocated in the parent, so its copied part is zeros');
      assert.ok(same(around.subarray(3 * UNIT), freshAtBoundary.subarray(3 * UNIT)), 'the unit after the touched ones follows the parent');
    } finally {
      await image.close();
    }
  });

  it('writeZeroes in a child hides the parent\'s data over the whole 4 KiB units it touches', async () => {
    const { base, child, model } = await makeChain(tempDir());
    const image = (await openImage(child, { writable: true })) as WritableDiskImage;
    await image.writeZeroes(3 * BLOCK + 100, 5000);
    model.fill(0, 3 * BLOCK + 100, 3 * BLOCK + 5100);
    await image.flush();
    await image.close();
    // Change the parent over the zeroed units and the unit after them.
    const parent = (await openImage(base, { writable: true })) as WritableDiskImage;
    const fresh = new Uint8Array(3 * UNIT);
    fillPattern(fresh, 3 * BLOCK, 0x9999);
    await parent.writeAt(fresh, 3 * BLOCK);
    await parent.flush();
    await parent.close();
    const expected = model.slice();
    expected.set(fresh.subarray(2 * UNIT), 3 * BLOCK + 2 * UNIT);
    const again = await openImage(child);
    try {
      assert.ok(same(await readAll(again), expected));
      const got = new Uint8Array(3 * UNIT);
      await again.readAt(got, 3 * BLOCK);
      assert.ok(same(got.subarray(0, 100), model.subarray(3 * BLOCK, 3 * BLOCK + 100)), 'the head of the first unit keeps the parent\'s old bytes');
      assert.ok(got.subarray(100, 5100).every((v) => v === 0), 'the zeroed range reads as zeros');
      assert.ok(same(got.subarray(5100, 2 * UNIT), model.subarray(3 * BLOCK + 5100, 3 * BLOCK + 2 * UNIT)), 'the tail of the second unit keeps the parent\'s old bytes');
      assert.ok(!same(got.subarray(0, 100), fresh.subarray(0, 100)) && !same(got.subarray(5100, 2 * UNIT), fresh.subarray(5100, 2 * UNIT)));
      assert.ok(same(got.subarray(2 * UNIT), fresh.subarray(2 * UNIT)), 'the next unit follows the parent');
      const piece: Extent[] = [];
      for await (const e of again.extents({ offset: 3 * BLOCK, length: 4 * UNIT })) piece.push(e);
      assert.deepEqual(piece, [
        { offset: 3 * BLOCK, length: 2 * UNIT, kind: 'data', depth: 0 },
        { offset: 3 * BLOCK + 2 * UNIT, length: 2 * UNIT, kind: 'data', depth: 1 },
      ]);
    } finally {
      await again.close();
    }
  });

  for (const blockSize of [BLOCK, 2 * 1024 * 1024]) {
    it(`after unaligned child writes every sector-bitmap byte is 0x00 or 0xff (${blockSize / 1024} KiB blocks)`, async () => {
      const dir = tempDir();
      const size = 4 * blockSize;
      const base = join(dir, 'base.vhd');
      const child = join(dir, 'child.vhd');
      const { model } = await createPatternVhd(base, { size, blockSize, blocks: [0, 2], seed: 0x1212 });
      const touched = new Set<number>();
      const touch = (offset: number, length: number) => {
        for (let u = Math.floor(offset / UNIT); u * UNIT < offset + length; u++) touched.add(u);
      };
      const next = lcg(0xc0ffee);
      const writes: [number, number][] = [
        [1, 1],
        [UNIT - 1, 2],
        [blockSize - 700, 1400],
        [2 * blockSize + 3 * UNIT + 511, 513],
        [size - 1, 1],
        [size - UNIT - 100, 50],
        [blockSize + 5 * UNIT, UNIT],
        [3 * blockSize - 1, 2 * UNIT + 2],
      ];
      for (let i = 0; i < 40; i++) {
        const length = 1 + (next() % (3 * UNIT));
        writes.push([next() % (size - length), length]);
      }
      const parent = await openImage(base);
      let image = await createImage(child, 'vhd', { virtualSize: size, options: { block_size: String(blockSize) }, parent });
      try {
        for (const [i, [offset, length]] of writes.entries()) {
          if (i % 7 === 3) {
            await image.writeZeroes(offset, length);
            model.fill(0, offset, offset + length);
          } else {
            await writeBoth(image, model, offset, length, 0x3000 + i);
          }
          touch(offset, length);
          if (i === 20) {
            // Half the writes go into blocks already on disk, through a reopened image.
            await image.flush();
            await image.close();
            image = (await openImage(child, { writable: true })) as WritableDiskImage;
          }
        }
        await image.flush();
      } finally {
        await image.close();
      }

      const batEntries = size / blockSize;
      const bat = Buffer.from(readBytes(child, VHD.batOffset, batEntries * 4));
      const bitmapLength = 512;
      const usedBytes = blockSize / 512 / 8;
      let allocated = 0;
      for (let b = 0; b < batEntries; b++) {
        const sector = bat.readUInt32BE(b * 4);
        const unitsInBlock = blockSize / UNIT;
        const blockTouched = [...touched].some((u) => Math.floor(u / unitsInBlock) === b);
        if (sector === 0xffffffff) {
          assert.ok(!blockTouched, `block ${b} was written but is not allocated`);
          continue;
        }
        allocated++;
        const bitmap = readBytes(child, sector * 512, bitmapLength);
        assert.equal(bitmap.length, bitmapLength);
        for (let i = 0; i < bitmapLength; i++) {
          assert.ok(bitmap[i] === 0x00 || bitmap[i] === 0xff, `block ${b} bitmap byte ${i} is 0x${bitmap[i]!.toString(16)}`);
        }
        const want = Array.from({ length: bitmapLength }, (_, i) => (i < usedBytes && touched.has(b * unitsInBlock + i) ? 0xff : 0x00));
        assert.deepEqual([...bitmap], want, `block ${b}: exactly the touched 4 KiB units are present`);
      }
      assert.equal(allocated, batEntries, 'the writes reach every block');

      const again = await openImage(child);
      try {
        assert.ok(same(await readAll(again), model));
        const own = await extentsOf(again, true);
        const units = [...touched].sort((a, b) => a - b);
        const runs: [number, number][] = [];
        for (const u of units) {
          const last = runs[runs.length - 1];
          if (last && last[0] + last[1] === u * UNIT) last[1] += UNIT;
          else runs.push([u * UNIT, UNIT]);
        }
        assert.deepEqual(own.filter((e) => e.kind === 'data').map((e) => [e.offset, e.length]), runs);
      } finally {
        await again.close();
      }
    });
  }
});
