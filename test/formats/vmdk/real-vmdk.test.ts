// Real VMDKs from other tools (../shared/fixtures/real, see PROVENANCE.md):
// VMware's monolithicSparse and streamOptimized of one disk, and qemu-img's
// twoGbMaxExtentSparse whose s001 extent has an empty embedded descriptor.
import assert from 'node:assert/strict';
import { relative } from 'node:path';
import { test } from 'node:test';
import { openImage } from '../../../src/formats/registry.js';
import { convert } from '../../../src/ops/convert.js';
import { guestSha256 } from '../../helpers/images.js';
import { needTools, realImages, run, sha256OfFile } from '../../helpers/oracles.js';
import { realImagesReadClean } from '../../helpers/real-images.js';
import { tempDir } from '../../helpers/tmp.js';

test('every real VMDK reads to the guest sha256 EXPECTED.tsv records, and checks clean', (t) => realImagesReadClean(t, 'vmdk', 3));

test('the extent of a split disk opened alone: its header, not its empty descriptor, says what it holds', async (t) => {
  const real = realImages(t);
  if (!real) return;
  const row = real.images.find((x) => x.path.endsWith('tw_sparse-s001.vmdk'));
  assert.ok(row, 'EXPECTED.tsv has the s001 extent');
  const warnings: string[] = [];
  const image = await openImage(row.path, { onWarning: (w) => warnings.push(w) });
  try {
    assert.equal(image.virtualSize, row.virtualSize);
    assert.equal(image.describe().subformat, undefined, 'no descriptor, no create type');
    assert.ok(warnings.some((w) => /no embedded descriptor/.test(w)), warnings.join('|'));
    const whole = real.images.find((x) => x.path.endsWith('tw_sparse.vmdk'))!;
    assert.equal(await guestSha256(image), whole.sha256, 'its one extent is the whole disk');
  } finally {
    await image.close();
  }
});

test('vmdkinfo agrees on the size, and qemu-img reads vdisk\'s VHDX copies as EXPECTED.tsv says', async (t) => {
  const real = realImages(t);
  if (!real) return;
  const dir = tempDir('vdisk-real-vmdk-');
  for (const [i, img] of real.images.filter((x) => x.format === 'vmdk' && x.sha256).entries()) {
    await t.test(relative(real.dir, img.path), async (t2) => {
      if (!needTools(t2, 'qemu-img', 'vmdkinfo')) return;
      const media = /Media size\s*:.*\((\d+) bytes\)/.exec(run('vmdkinfo', [img.path]).stdout);
      assert.equal(Number(media?.[1]), img.virtualSize);
      const out = `${dir}/copy${i}.vhdx`;
      await convert(img.path, out, { outputFormat: 'vhdx' });
      const raw = `${dir}/copy${i}.raw`;
      run('qemu-img', ['convert', '-f', 'vhdx', '-O', 'raw', out, raw]);
      assert.equal(await sha256OfFile(raw), img.sha256);
    });
  }
});
