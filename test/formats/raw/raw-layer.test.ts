/**
 * Raw is one sparse stored run over the file: its extents are the file's
 * data and holes, reads go straight to the file, writes and zeroes keep it
 * sparse, and it takes no parent.
 */
import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createImage, openImage } from '../../../src/formats/registry.js';
import type { WritableDiskImage } from '../../../src/formats/types.js';
import { extentsOf, readAll, writeBoth } from '../../helpers/images.js';
import { tempDir } from '../../helpers/tmp.js';

const MiB = 1024 * 1024;

describe('raw layer', () => {
  it('maps the whole disk as one sparse stored run of the file', async () => {
    const path = join(tempDir(), 'd.raw');
    writeFileSync(path, new Uint8Array(MiB).fill(1));
    const image = await openImage(path);
    try {
      const runs = [];
      for await (const r of image.layer.map({ offset: 4096, length: 8192 })) runs.push(r);
      assert.deepEqual(
        runs.map((r) => ({ ...r, source: undefined })),
        [{ kind: 'stored', offset: 4096, length: 8192, at: 4096, sparse: true, source: undefined }],
      );
      assert.deepEqual(image.layer.files(), [path]);
    } finally {
      await image.close();
    }
  });

  it('written data reads back; holes are zero extents; writeZeroes over data reads zeros', async () => {
    const path = join(tempDir(), 'd.raw');
    const model = new Uint8Array(8 * MiB);
    const image = (await createImage(path, 'raw', { virtualSize: model.length, options: {} })) as WritableDiskImage;
    await writeBoth(image, model, 2 * MiB, MiB, 1);
    await writeBoth(image, model, 8 * MiB - 100, 100, 2);
    await image.writeZeroes(2 * MiB + 4096, 8192);
    model.fill(0, 2 * MiB + 4096, 2 * MiB + 4096 + 8192);
    await image.flush();
    await image.close();
    assert.equal(statSync(path).size, model.length);
    const again = await openImage(path);
    try {
      assert.ok(Buffer.from(await readAll(again)).equals(Buffer.from(model)));
      const ext = await extentsOf(again);
      assert.equal(ext[0]!.kind, 'zero');
      assert.ok(ext.some((e) => e.kind === 'data' && e.offset <= 2 * MiB && e.offset + e.length >= 3 * MiB));
      assert.ok(ext.every((e) => e.depth === 0));
    } finally {
      await again.close();
    }
  });
});
