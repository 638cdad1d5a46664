import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createImage, openImage } from '../../../src/formats/registry.js';
import { extentsOf, readAll, same, writeBoth } from '../../helpers/images.js';
import { tempDir } from '../../helpers/tmp.js';
import { createDynamic } from '../../helpers/vhd.js';

const BLOCK = 512 * 1024;
const SIZE = 8 * BLOCK;

/** Unaligned and block-spanning writes used by several tests: [offset, length]. */
const WRITES: [number, number][] = [
  [1, 10],
  [511, 2],
  [513, 1000],
  [BLOCK - 3, 10],
  [3 * BLOCK - 700, 2 * BLOCK + 1400],
  [SIZE - 1, 1],
  [0, 512],
  [BLOCK + 100, 50],
];

describe('dynamic VHD writer', () => {
  it('unaligned and block-spanning writes, each flushed, read back like the model before and after reopening', async () => {
    const path = join(tempDir(), 'd.vhd');
    const model = new Uint8Array(SIZE);
    const image = await createDynamic(path, SIZE);
    let seed = 1;
    for (const [off, len] of WRITES) {
      await writeBoth(image, model, off, len, seed++);
      await image.flush();
    }
    assert.ok(same(await readAll(image), model), 'read before close');
    await image.close();

    const again = await openImage(path);
    try {
      assert.equal(again.virtualSize, SIZE);
      assert.equal(again.grain, BLOCK);
      assert.ok(same(await readAll(again), model), 'read after reopen');
      const piece = new Uint8Array(1001);
      await again.readAt(piece, BLOCK - 500);
      assert.ok(same(piece, model.subarray(BLOCK - 500, BLOCK + 501)));
      assert.deepEqual(await extentsOf(again), [
        { offset: 0, length: 6 * BLOCK, kind: 'data', depth: 0 },
        { offset: 6 * BLOCK, length: BLOCK, kind: 'unallocated', depth: 0 },
        { offset: 7 * BLOCK, length: BLOCK, kind: 'data', depth: 0 },
      ]);
      const findings = await again.check();
      assert.deepEqual(findings.filter((f) => f.severity !== 'warning'), []);
    } finally {
      await again.close();
    }
  });

  it('a fixed VHD keeps data then one footer, and reads back', async () => {
    const path = join(tempDir(), 'f.vhd');
    const model = new Uint8Array(SIZE);
    const image = await createImage(path, 'vhd', { virtualSize: SIZE, options: { subformat: 'fixed' } });
    await writeBoth(image, model, 777, 70000, 9);
    await image.flush();
    await image.close();
    assert.equal(statSync(path).size, SIZE + 512);
    const again = await openImage(path);
    try {
      assert.equal(again.describe().subformat, 'fixed');
      assert.ok(same(await readAll(again), model));
    } finally {
      await again.close();
    }
  });
});

// src/formats/vhd/writer.ts WritableVhdLayer.allocate: a new block of a dynamic VHD gets an
// all-ones bitmap, but the file is not extended over the block, so before the next
// flush a read of its unwritten sectors runs past the end of the file (CORRUPT).
describe('dynamic VHD writer before flush (bug: new block not backed by the file)', () => {
  it('a second unaligned write into a new block succeeds without a flush in between', async () => {
    const path = join(tempDir(), 'u.vhd');
    const model = new Uint8Array(SIZE);
    const image = await createDynamic(path, SIZE);
    try {
      await writeBoth(image, model, 1000, 10, 1);
      await writeBoth(image, model, 5000, 10, 2);
      await image.flush();
      assert.ok(same(await readAll(image), model));
    } finally {
      await image.close();
    }
  });

  it('reading a partly written new block before flush gives the data and zeros', async () => {
    const path = join(tempDir(), 'p.vhd');
    const image = await createDynamic(path, SIZE);
    try {
      await image.writeAt(new Uint8Array(512).fill(7), 0);
      const buf = new Uint8Array(8192);
      await image.readAt(buf, 0);
      assert.equal(buf[0], 7);
      assert.equal(buf[511], 7);
      assert.equal(buf[512], 0);
      assert.equal(buf[8191], 0);
    } finally {
      await image.close();
    }
  });
});
