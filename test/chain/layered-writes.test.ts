/**
 * One layered-writes model, run over every format whose descriptor says it
 * has differencing images: a base and two children, partly written blocks
 * at every depth, unaligned writes, zeros written over data, and the last
 * byte. The chain must read like the model, whole and in pieces across
 * block boundaries, and its extents must come from every depth.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createImage, formats, openImage } from '../../src/formats/registry.js';
import type { DiskImage, WritableDiskImage } from '../../src/formats/types.js';
import { readAll, writeBoth } from '../helpers/images.js';
import { tempDir } from '../helpers/tmp.js';

/** Writes of one layer: [offset, length] in units of the block size B, plus byte offsets. */
type Writes = (b: number, size: number) => [number, number][];

const MID: Writes = (B) => [[100, 700], [B - 512, 2048], [2 * B + 4096, 512], [6 * B + 10, 30], [8 * B + 100, 200]];
const TOP: Writes = (B, size) => [[0, 512], [B + 7, 1], [2 * B, B], [5 * B + 333, 70000], [size - 5, 5]];

for (const f of formats().filter((x) => x.differencing && x.blockSizes)) {
  // At least 64 KiB: the writes below reach 4 KiB and more into a block.
  const B = Math.max(f.blockSizes!.min, 64 * 1024);
  // Block 4 is written in the base only and block 8 in the middle layer only, so every depth shows
  // even in formats whose children copy whole blocks up (VMDK grains).
  const SIZE = 10 * B;

  describe(`${f.name}: a differencing chain of depth 3`, () => {
    it('reads like the model of its layered writes, whole and across block boundaries', async () => {
      const dir = tempDir();
      const model = new Uint8Array(SIZE);
      const options = { [f.blockSizeOption ?? 'block_size']: String(B) };
      const base = await createImage(join(dir, `base.${f.extension}`), f.name, { virtualSize: SIZE, options });
      await writeBoth(base, model, 0, SIZE / 2, 1);
      await writeBoth(base, model, 3 * B + 1000, 5000, 2);
      await writeBoth(base, model, 4 * B + 4096, 1000, 3);
      await base.writeZeroes(B + 4096, 8192);
      model.fill(0, B + 4096, B + 4096 + 8192);
      await base.flush();
      await base.close();

      let parentPath = join(dir, `base.${f.extension}`);
      let seed = 10;
      for (const [name, writes] of [['mid', MID], ['top', TOP]] as const) {
        const path = join(dir, `${name}.${f.extension}`);
        const parent = await openImage(parentPath);
        const child = await createImage(path, f.name, { virtualSize: SIZE, options: {}, parent });
        await child.close();
        const open = (await openImage(path, { writable: true })) as WritableDiskImage;
        for (const [off, len] of writes(B, SIZE)) await writeBoth(open, model, off, len, seed++);
        await open.writeZeroes(3 * B + 2000, 100);
        model.fill(0, 3 * B + 2000, 3 * B + 2100);
        await open.flush();
        await open.close();
        parentPath = path;
      }

      const top: DiskImage = await openImage(join(dir, `top.${f.extension}`));
      try {
        assert.equal(top.parent?.parent?.format, f.name);
        assert.equal(top.parent?.parent?.parent, undefined);
        assert.ok(Buffer.from(await readAll(top)).equals(Buffer.from(model)), 'whole view');
        for (const [at, n] of [[B - 1000, 3000], [3 * B - 7, 14], [SIZE - 9000, 9000]]) {
          const piece = new Uint8Array(n!);
          await top.readAt(piece, at!);
          assert.ok(Buffer.from(piece).equals(Buffer.from(model.subarray(at!, at! + n!))), `piece at ${at}`);
        }
        const depths = new Set<number>();
        for await (const e of top.extents()) if (e.kind === 'data') depths.add(e.depth);
        assert.deepEqual([...depths].sort(), [0, 1, 2]);
      } finally {
        await top.close();
      }
    });
  });
}

describe('formats without differencing images', () => {
  it('refuse a parent with UNSUPPORTED instead of ignoring it', async () => {
    const dir = tempDir();
    const plain = formats().find((x) => !x.differencing && x.create);
    const layered = formats().find((x) => x.differencing);
    assert.ok(plain && layered);
    const base = await createImage(join(dir, `base.${layered.extension}`), layered.name, { virtualSize: 1 << 20, options: {} });
    try {
      await assert.rejects(createImage(join(dir, `child.${plain.extension}`), plain.name, { virtualSize: 1 << 20, options: {}, parent: base }), { code: 'UNSUPPORTED' });
    } finally {
      await base.close();
    }
  });
});
