import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { createImage, openImage } from '../../../src/formats/registry.js';
import type { DiskImage, WritableDiskImage } from '../../../src/formats/types.js';
import { readAll, writeBoth } from '../../helpers/images.js';
import { tempDir } from '../../helpers/tmp.js';

const KiB = 1024;
const SIZE = 4 * 1024 * KiB;
const BLOCK = 512 * KiB;

async function openWritable(path: string): Promise<WritableDiskImage> {
  return (await openImage(path, { writable: true })) as WritableDiskImage;
}

test('a differencing chain of depth 3 with partly written blocks reads like the model', async () => {
  const dir = tempDir();
  const model = new Uint8Array(SIZE);
  const base = await createImage(join(dir, 'base.vhd'), 'vhd', { virtualSize: SIZE, options: { block_size: '512K' } });
  await writeBoth(base, model, 0, SIZE / 2, 1);
  await writeBoth(base, model, 3 * BLOCK + 1000, 5000, 2);
  await base.flush();
  await base.close();

  const layers: [string, [number, number][]][] = [
    ['mid.vhd', [[100, 700], [BLOCK - 512, 2048], [2 * BLOCK + 4096, 512], [6 * BLOCK + 10, 30]]],
    ['top.vhd', [[0, 512], [BLOCK + 7, 1], [2 * BLOCK, BLOCK], [5 * BLOCK + 333, 70000], [SIZE - 5, 5]]],
  ];
  let parentPath = join(dir, 'base.vhd');
  for (const [name, writes] of layers) {
    const parent = await openImage(parentPath);
    const child = await createImage(join(dir, name), 'vhd', { virtualSize: SIZE, options: {}, parent });
    await child.close();
    const open = await openWritable(join(dir, name));
    let seed = 10;
    for (const [off, len] of writes) await writeBoth(open, model, off, len, seed++);
    await open.flush();
    await open.close();
    parentPath = join(dir, name);
  }

  const top: DiskImage = await openImage(join(dir, 'top.vhd'));
  try {
    assert.equal(top.parent?.parent?.format, 'vhd');
    assert.equal(top.parent?.parent?.parent, undefined);
    assert.deepEqual(Buffer.from(await readAll(top)).equals(Buffer.from(model)), true);
    const piece = new Uint8Array(3000);
    await top.readAt(piece, BLOCK - 1000);
    assert.deepEqual(Buffer.from(piece), Buffer.from(model.subarray(BLOCK - 1000, BLOCK + 2000)));
    const depths = new Set<number>();
    for await (const e of top.extents()) if (e.kind === 'data') depths.add(e.depth);
    assert.deepEqual([...depths].sort(), [0, 1, 2]);
  } finally {
    await top.close();
  }
});
