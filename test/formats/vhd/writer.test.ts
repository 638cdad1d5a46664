import assert from 'node:assert/strict';
import { closeSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createImage, openImage } from '../../../src/formats/registry.js';
import type { WritableDiskImage } from '../../../src/formats/types.js';
import { decodeFooter } from '../../../src/formats/vhd/footer.js';
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

/** The last 512 bytes of a file decode as a VHD footer (decodeFooter throws when they do not). */
function endsInFooter(path: string): boolean {
  const size = statSync(path).size;
  const tail = Buffer.alloc(512);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, tail, 0, 512, size - 512);
  } finally {
    closeSync(fd);
  }
  return decodeFooter(tail, 'end').diskType === 'dynamic';
}

describe('dynamic VHD writer: where the footer goes', () => {
  it('a tail a crashed run left (a block of data and a footer) is cut before new blocks go there, so they read zeros where unwritten', async () => {
    const path = join(tempDir(), 't.vhd');
    const model = new Uint8Array(SIZE);
    const image = await createDynamic(path, SIZE);
    await writeBoth(image, model, 0, 4096, 1);
    await image.flush();
    await image.close();
    const clean = statSync(path).size;
    const footer = Buffer.alloc(512);
    const fd = openSync(path, 'r+');
    try {
      readSync(fd, footer, 0, 512, clean - 512);
      // What a killed run leaves: block data past the last structure, then a footer past it.
      writeSync(fd, Buffer.alloc(BLOCK + 8192, 0xaa), 0, BLOCK + 8192, clean - 512);
      writeSync(fd, footer, 0, 512, clean - 512 + BLOCK + 8192);
    } finally {
      closeSync(fd);
    }
    const again = (await openImage(path, { writable: true })) as WritableDiskImage;
    try {
      await writeBoth(again, model, 3 * BLOCK + 4096, 4096, 2);
      assert.ok(same(await readAll(again), model), 'before flush');
      await again.flush();
      assert.ok(same(await readAll(again), model), 'after flush');
    } finally {
      await again.close();
    }
    const reopened = await openImage(path);
    try {
      assert.ok(same(await readAll(reopened), model), 'after reopening');
      assert.deepEqual((await reopened.check()).filter((f) => f.severity !== 'warning'), []);
    } finally {
      await reopened.close();
    }
  });

  it('runs ahead of new blocks, the file ending in a valid footer after every write, and is cut back to the last block by flush', async () => {
    const path = join(tempDir(), 'a.vhd');
    const size = 64 * BLOCK;
    const model = new Uint8Array(size);
    const image = await createDynamic(path, size);
    try {
      for (let b = 0; b < 64; b += 1) {
        await writeBoth(image, model, b * BLOCK + 512 * (b % 7), 1024, b + 1);
        assert.ok(endsInFooter(path), `after the write into block ${b}`);
      }
      assert.ok(statSync(path).size > 64 * BLOCK + 512, 'the footer stands ahead of the last block before flush');
      await image.flush();
      assert.ok(endsInFooter(path), 'after flush');
      assert.ok(same(await readAll(image), model));
    } finally {
      await image.close();
    }
    const reopened = await openImage(path);
    try {
      const findings = await reopened.check();
      assert.deepEqual(findings.filter((f) => f.severity !== 'warning'), [], 'no space left between the last block and the footer');
      assert.ok(same(await readAll(reopened), model));
    } finally {
      await reopened.close();
    }
  });
});
