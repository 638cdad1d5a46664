import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { nonZeroSpans } from '../../src/engine/scan.js';
import { createImage } from '../../src/formats/registry.js';
import { tempDir } from '../helpers/tmp.js';

const KiB = 1024;

test('nonZeroSpans: the 64 KiB pieces of data extents holding a non-zero byte, merged; written zeros and holes are left out', async () => {
  const path = join(tempDir(), 'd.raw');
  const image = await createImage(path, 'raw', { virtualSize: 1024 * KiB, options: {} });
  try {
    const piece = (at: number) => {
      const buf = new Uint8Array(64 * KiB);
      buf[at] = 1;
      return buf;
    };
    await image.writeAt(new Uint8Array(64 * KiB), 0);
    await image.writeAt(piece(10), 64 * KiB);
    await image.writeAt(piece(0), 128 * KiB);
    await image.writeAt(new Uint8Array(128 * KiB), 256 * KiB);
    await image.writeAt(piece(64 * KiB - 1), 960 * KiB);
    await image.flush();
    const progress: [number, number][] = [];
    const spans = await nonZeroSpans(image, (done, total) => progress.push([done, total]));
    assert.deepEqual(spans, [
      { start: 64 * KiB, end: 192 * KiB },
      { start: 960 * KiB, end: 1024 * KiB },
    ]);
    assert.ok(progress.length > 0);
    const [done, total] = progress[progress.length - 1]!;
    assert.equal(done, total, 'progress ends at the total of the data extents');
  } finally {
    await image.close();
  }
});
