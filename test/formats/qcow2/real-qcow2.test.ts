// Real qcow2 images from other tools (../shared/fixtures/real, see
// PROVENANCE.md): dfvfs's ext2.qcow2 (version 3, plain) and image.qcow2
// (version 2 with a zlib-compressed cluster) read to the guest sha256
// EXPECTED.tsv records, check clean, and qcowinfo agrees on their size.
import assert from 'node:assert/strict';
import { relative } from 'node:path';
import { test } from 'node:test';
import { detectFormat, openImage } from '../../../src/formats/registry.js';
import { check } from '../../../src/ops/check.js';
import { guestSha256 } from '../../helpers/images.js';
import { needTools, realImages, run } from '../../helpers/oracles.js';

test('every real qcow2 reads to the guest sha256 EXPECTED.tsv records, checks clean, and qcowinfo agrees on its size', async (t) => {
  const real = realImages(t);
  if (!real) return;
  const images = real.images.filter((x) => x.format === 'qcow2');
  assert.ok(images.length >= 2, 'EXPECTED.tsv lists the real qcow2 images');
  for (const img of images) {
    await t.test(relative(real.dir, img.path), async (t2) => {
      assert.ok(img.sha256, 'every qcow2 row has a reference sha256');
      assert.equal(await detectFormat(img.path), 'qcow2');
      const warnings: string[] = [];
      const image = await openImage(img.path, { onWarning: (w) => warnings.push(w) });
      try {
        assert.equal(image.virtualSize, img.virtualSize);
        assert.equal(await guestSha256(image), img.sha256);
        assert.deepEqual(warnings, []);
      } finally {
        await image.close();
      }
      assert.deepEqual((await check(img.path)).findings, []);
      if (!needTools(t2, 'qcowinfo')) return;
      const text = run('qcowinfo', [img.path]).stdout;
      assert.match(text, new RegExp(`Media size\\s*:.*\\(${img.virtualSize} bytes\\)`), text);
    });
  }
});
