import assert from 'node:assert/strict';
import { relative } from 'node:path';
import type { TestContext } from 'node:test';
import { detectFormat, openImage } from '../../src/formats/registry.js';
import { check } from '../../src/ops/check.js';
import { guestSha256 } from './images.js';
import { realImages, type RealImage } from './oracles.js';

/**
 * One subtest per real image of `format` that EXPECTED.tsv gives a guest
 * sha256 (at least `atLeast` of them): it probes as `format`, opens without
 * warnings, has the recorded size, reads to the recorded sha256 and checks
 * clean; `more` adds the format's own checks (another tool's view).
 */
export async function realImagesReadClean(t: TestContext, format: string, atLeast: number, more?: (t: TestContext, img: RealImage) => void): Promise<void> {
  const real = realImages(t);
  if (!real) return;
  const images = real.images.filter((x) => x.format === format && x.sha256);
  assert.ok(images.length >= atLeast, `EXPECTED.tsv lists the real ${format} images`);
  for (const img of images) {
    await t.test(relative(real.dir, img.path), async (t2) => {
      assert.equal(await detectFormat(img.path), format);
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
      more?.(t2, img);
    });
  }
}
