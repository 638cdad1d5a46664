/**
 * The VHDX writer, part 1: dynamic and fixed disks made by createImage with
 * 1 MiB and 32 MiB blocks and 512- and 4096-byte logical sectors; unaligned
 * and block-spanning writes against a model, before and after reopening;
 * writeZeroes; extents. Differencing disks, headers and linkage:
 * writer-differencing.test.ts.
 */
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createImage, openImage } from '../../../src/formats/registry.js';
import type { DiskImage, Extent } from '../../../src/formats/types.js';
import { batGeometry } from '../../../src/formats/vhdx/bat-geometry.js';
import { rejectsWithCode } from '../../helpers/assert-error.js';
import { extentsOf, readAll, same, writeBoth } from '../../helpers/images.js';
import { tempDir } from '../../helpers/tmp.js';
import { MiB, createVhdx } from '../../helpers/vhdx.js';

/** Unaligned and block-spanning writes for a disk of `size` bytes with `bs` blocks: [offset, length]. */
function writesFor(bs: number, size: number): [number, number][] {
  return [
    [1, 10],
    [511, 2],
    [513, 1000],
    [4095, 4098],
    [bs - 3, 10],
    [bs + bs / 2 - 700, bs + 1400],
    [size - 1, 1],
    [0, 512],
    [bs + 100, 50],
  ];
}

/** Blocks a list of writes touches. */
function touched(writes: [number, number][], bs: number): Set<number> {
  const out = new Set<number>();
  for (const [o, l] of writes) for (let b = Math.floor(o / bs); b <= Math.floor((o + l - 1) / bs); b++) out.add(b);
  return out;
}

/**
 * Checks extents against what was written: they tile [0, size) in order at
 * depth 0; unallocated exactly where no block was written (dynamic) or
 * nowhere (fixed); every written byte in a data extent; zero extents read zero.
 */
async function assertExtents(image: DiskImage, model: Uint8Array, writes: [number, number][], fixed: boolean): Promise<void> {
  const ext = await extentsOf(image);
  const bs = image.grain;
  let pos = 0;
  for (const e of ext) {
    assert.equal(e.offset, pos, 'extents tile the disk');
    assert.equal(e.depth, 0);
    assert.ok(['data', 'zero', 'unallocated'].includes(e.kind));
    pos += e.length;
  }
  assert.equal(pos, image.virtualSize);
  const blocks = touched(writes, bs);
  const kindAt = (off: number): Extent['kind'] => ext.find((e) => e.offset <= off && off < e.offset + e.length)!.kind;
  for (let b = 0; b * bs < image.virtualSize; b++) {
    const end = Math.min(image.virtualSize, (b + 1) * bs) - 1;
    const allocated = fixed || blocks.has(b);
    for (const off of [b * bs, end]) assert.equal(kindAt(off) === 'unallocated', !allocated, `block ${b} at ${off}: ${kindAt(off)}`);
  }
  for (const [o, l] of writes) for (const off of [o, o + l - 1]) assert.equal(kindAt(off), 'data', `written byte ${off}`);
  for (const e of ext.filter((x) => x.kind !== 'data')) {
    assert.ok(model.subarray(e.offset, e.offset + e.length).every((x) => x === 0), `${e.kind} extent at ${e.offset} holds data in the model`);
  }
}

const VARIANTS = (['dynamic', 'fixed'] as const).flatMap((subformat) =>
  [MiB, 32 * MiB].flatMap((bs) => [512, 4096].map((logical) => ({ subformat, bs, logical }))),
);

describe('VHDX writer: dynamic and fixed disks', () => {
  for (const { subformat, bs, logical } of VARIANTS) {
    it(`${subformat}, ${bs / MiB} MiB blocks, ${logical}-byte sectors: writes read back like the model before and after reopening`, async () => {
      const path = join(tempDir(), 'd.vhdx');
      const asked = 4 * bs + 12345;
      const image = await createImage(path, 'vhdx', { virtualSize: asked, options: { subformat, block_size: String(bs), logical_sector_size: String(logical) } });
      const size = image.virtualSize;
      assert.equal(size, Math.ceil(asked / logical) * logical, 'the size is rounded up to a whole logical sector');
      const model = new Uint8Array(size);
      const writes = writesFor(bs, size);
      let seed = 1;
      for (const [off, len] of writes) await writeBoth(image, model, off, len, seed++);
      assert.ok(same(await readAll(image), model), 'read before flush');
      await image.flush();
      assert.ok(same(await readAll(image), model), 'read after flush');
      await image.close();

      const g = batGeometry(size, bs, logical, false);
      const blocks = subformat === 'fixed' ? g.payloadBlocks : touched(writes, bs).size;
      assert.equal(statSync(path).size, 4 * MiB + blocks * bs, 'log, metadata, 1 MiB of BAT, then the blocks');
      const again = await openImage(path);
      try {
        assert.equal(again.virtualSize, size);
        assert.equal(again.grain, bs);
        assert.ok(same(await readAll(again), model), 'read after reopen');
        const piece = new Uint8Array(1001);
        await again.readAt(piece, bs - 500);
        assert.ok(same(piece, model.subarray(bs - 500, bs + 501)), 'a read across a block boundary');
        const info = again.describe();
        assert.equal(info.subformat, subformat);
        const fs = info.formatSpecific!;
        assert.equal(fs.blockSize, bs);
        assert.equal(fs.logicalSectorSize, logical);
        assert.equal(fs.leaveBlocksAllocated, subformat === 'fixed');
        assert.deepEqual(fs.blockStates, subformat === 'fixed' ? { fullyPresent: g.payloadBlocks } : { fullyPresent: blocks, notPresent: g.payloadBlocks - blocks });
        await assertExtents(again, model, writes, subformat === 'fixed');
        assert.deepEqual(await again.check(), []);
      } finally {
        await again.close();
      }
    });
  }

  it('a new fixed disk has every block fully present, reads as zeros and keeps its size when written', async () => {
    const path = join(tempDir(), 'f.vhdx');
    const image = await createVhdx(path, 5 * MiB + 512, { subformat: 'fixed' });
    const size = statSync(path).size;
    assert.equal(size, 4 * MiB + 6 * MiB);
    assert.ok((await readAll(image)).every((x) => x === 0));
    assert.deepEqual((await extentsOf(image)).filter((e) => e.kind === 'unallocated'), []);
    await image.writeAt(new Uint8Array(3 * MiB).fill(3), MiB / 2);
    await image.writeZeroes(MiB, 4096);
    await image.flush();
    await image.close();
    assert.equal(statSync(path).size, size, 'no block was added');
  });

  it('create refuses bad options with USAGE and sizes past 64 TiB with OUT_OF_RANGE, leaving no writer open', async () => {
    const dir = tempDir();
    const make = (name: string, size: number, options: Record<string, string>) => createImage(join(dir, name), 'vhdx', { virtualSize: size, options });
    await rejectsWithCode(make('a.vhdx', MiB, { block_size: '3M' }), 'USAGE');
    await rejectsWithCode(make('b.vhdx', MiB, { block_size: '512K' }), 'USAGE');
    await rejectsWithCode(make('c.vhdx', MiB, { block_size: '512M' }), 'USAGE');
    await rejectsWithCode(make('d.vhdx', MiB, { logical_sector_size: '520' }), 'USAGE');
    await rejectsWithCode(make('e.vhdx', MiB, { physical_sector_size: '1024' }), 'USAGE');
    await rejectsWithCode(make('f.vhdx', MiB, { subformat: 'stream' }), 'USAGE');
    await rejectsWithCode(make('g.vhdx', MiB, { cluster_size: '1M' }), 'USAGE');
    await rejectsWithCode(make('h.vhdx', 64 * 1024 ** 4 + 512, {}), 'OUT_OF_RANGE');
    await rejectsWithCode(make('i.vhdx', 64 * 1024 ** 4, { block_size: '1M' }), 'USAGE');
    const big = await make('j.vhdx', 64 * 1024 ** 4, {});
    assert.equal(big.virtualSize, 64 * 1024 ** 4, '64 TiB at the default 32 MiB blocks fits the BAT limit');
    await big.close();
  });
});
