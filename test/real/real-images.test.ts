// Real images from other tools (../shared/fixtures/real, restored by
// scripts/run-tests.mjs; see PROVENANCE.md there): sizes and guest sha256 as
// EXPECTED.tsv records them, the dfvfs pair with bad checksums (warn, check,
// repair a copy), the real VDIs, libvhdi's
// view of every real VHD, and qemu-img's view of vdisk's copies of them. The
// real VMDKs are read in test/formats/vmdk/real-vmdk.test.ts, the real qcow2
// images in test/formats/qcow2/real-qcow2.test.ts.
import assert from 'node:assert/strict';
import { closeSync, copyFileSync, openSync, readSync, realpathSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { test, type TestContext } from 'node:test';
import { detectFormat, openImage } from '../../src/formats/registry.js';
import { check } from '../../src/ops/check.js';
import { convert } from '../../src/ops/convert.js';
import { guestSha256 } from '../helpers/images.js';
import { needTools, qemuInfo, realImages, run, sha256OfFile, vhdiinfo, withVhdimount, type RealImage } from '../helpers/oracles.js';
import { tempDir } from '../helpers/tmp.js';
import { vdisk } from '../helpers/cli.js';

const PARENT = 'dfvfs/test_data/image.vhd';
const CHILD = 'dfvfs/test_data/image-differential.vhd';

/** Formats vdisk reads: every real image must be in one of them. */
const SUPPORTED = ['vhd', 'vhdx', 'vmdk', 'qcow2', 'vdi'];

/** The formats this file reads real images of (libvhdi reads them too). */
const VHD_FORMATS = ['vhd', 'vhdx'];

/** The restored images, the VHD rows, and a lookup by path as EXPECTED.tsv spells it. */
function fixtures(t: TestContext): { dir: string; images: RealImage[]; vhds: RealImage[]; row: (p: string) => RealImage } | undefined {
  const real = realImages(t);
  if (!real) return undefined;
  const row = (p: string): RealImage => {
    const r = real.images.find((x) => x.path === join(real.dir, p));
    assert.ok(r, `EXPECTED.tsv has a row for ${p}`);
    return r;
  };
  return { ...real, vhds: real.images.filter((x) => VHD_FORMATS.includes(x.format)), row };
}

/** Opens `path` collecting onWarning calls; returns its size, guest sha256, those warnings, image.warnings and the parent's path. */
async function readWithWarnings(path: string): Promise<{ size: number; sha: string; warnings: string[]; imageWarnings: string[]; parent?: string }> {
  const warnings: string[] = [];
  const image = await openImage(path, { onWarning: (m) => warnings.push(m) });
  try {
    return { size: image.virtualSize, sha: await guestSha256(image), warnings, imageWarnings: [...image.warnings], parent: image.parent?.path };
  } finally {
    await image.close();
  }
}

test('every real VHD and VHDX: virtual size and guest sha256 as EXPECTED.tsv says', async (t) => {
  const real = fixtures(t);
  if (!real) return;
  assert.ok(real.vhds.length >= 5, 'EXPECTED.tsv lists the real VHDs');
  for (const img of real.vhds) {
    await t.test(relative(real.dir, img.path), async () => {
      assert.ok(img.sha256, 'every VHD row has a reference sha256');
      assert.equal(await detectFormat(img.path), img.format);
      const got = await readWithWarnings(img.path);
      assert.equal(got.size, img.virtualSize, 'virtual size');
      assert.equal(got.sha, img.sha256, 'guest sha256');
    });
  }
});

test('dfvfs pair: bad footer checksums open with warnings and read correctly', async (t) => {
  const real = fixtures(t);
  if (!real) return;
  const parent = await readWithWarnings(real.row(PARENT).path);
  assert.ok(parent.warnings.some((w) => /image\.vhd: footer checksum/.test(w)), `onWarning got: ${parent.warnings.join(' | ')}`);
  assert.ok(parent.imageWarnings.some((w) => /footer checksum/.test(w)), 'image.warnings records it too');
  assert.equal(parent.sha, real.row(PARENT).sha256);

  const child = await readWithWarnings(real.row(CHILD).path);
  assert.equal(child.parent, realpathSync(real.row(PARENT).path), 'the child finds image.vhd by its header parent name');
  assert.ok(child.warnings.some((w) => /image-differential\.vhd: footer checksum/.test(w)), 'child footer checksum warned');
  assert.ok(child.warnings.some((w) => /image-differential\.vhd: dynamic header checksum/.test(w)), 'child header checksum warned');
  assert.ok(child.warnings.some((w) => /\/image\.vhd: footer checksum/.test(w)), 'parent footer checksum warned through the chain');
  assert.equal(child.sha, real.row(CHILD).sha256);
});

test('dfvfs pair: check reports corruption', async (t) => {
  const real = fixtures(t);
  if (!real) return;
  for (const [p, codes] of [
    [PARENT, ['FOOTER_CHECKSUM', 'FOOTER_COPY_CHECKSUM']],
    [CHILD, ['FOOTER_CHECKSUM', 'FOOTER_COPY_CHECKSUM', 'HEADER_CHECKSUM']],
  ] as const) {
    const path = real.row(p).path;
    const report = await check(path);
    assert.equal(report.result, 'corruption', `${p}: ${JSON.stringify(report)}`);
    assert.deepEqual(report.findings.map((f) => f.code).sort(), [...codes].sort());
    assert.deepEqual(report.repaired, []);
    const r = vdisk('check', path);
    assert.equal(r.status, 2, `vdisk check ${p} exits 2 on corruption: ${r.stdout}${r.stderr}`);
  }
});

test('dfvfs pair: check --repair on a copy fixes the checksums and keeps the guest view', async (t) => {
  const real = fixtures(t);
  if (!real) return;
  const dir = tempDir('vdisk-real-repair-');
  const originals = [real.row(PARENT).path, real.row(CHILD).path];
  const before = await Promise.all(originals.map(sha256OfFile));
  const [parent, child] = originals.map((p) => {
    copyFileSync(p, join(dir, basename(p)));
    return join(dir, basename(p));
  }) as [string, string];

  for (const path of [child, parent]) {
    const r = vdisk('check', '--repair', '--json', path);
    assert.equal(r.status, 0, `vdisk check --repair ${path}: ${r.stdout}${r.stderr}`);
    const report = JSON.parse(r.stdout) as { result: string; repaired: string[] };
    assert.equal(report.result, 'clean');
    assert.ok(report.repaired.length > 0, 'says what it changed');
  }
  for (const path of [parent, child]) {
    const report = await check(path);
    assert.deepEqual({ result: report.result, findings: report.findings }, { result: 'clean', findings: [] }, `second check of ${basename(path)}`);
    const got = await readWithWarnings(path);
    assert.deepEqual(got.warnings, [], 'no warnings once repaired');
    assert.equal(got.size, real.row(PARENT).virtualSize);
    assert.equal(got.sha, real.row(path === parent ? PARENT : CHILD).sha256, 'guest view unchanged');
  }
  assert.deepEqual(await Promise.all(originals.map(sha256OfFile)), before, 'the restored originals are untouched');

  await t.test('qemu-img, which refused the original, reads the repaired parent', async (t2) => {
    if (!needTools(t2, 'qemu-img')) return;
    const refused = run('qemu-img', ['info', '-f', 'vpc', real.row(PARENT).path], true);
    assert.notEqual(refused.status, 0, 'qemu-img 7.2 refuses a VHD with a bad footer checksum');
    const out = join(dir, 'parent.raw');
    run('qemu-img', ['convert', '-f', 'vpc', '-O', 'raw', parent, out]);
    assert.equal(await sha256OfFile(out), real.row(PARENT).sha256);
  });
  await t.test('vhdimount reads the repaired chain as before', async (t2) => {
    if (!needTools(t2, 'vhdimount', 'fusermount3', '/dev/fuse')) return;
    await withVhdimount(child, async (guest) => assert.equal(await sha256OfFile(guest), real.row(CHILD).sha256));
  });
});

test('every real VDI reads to the guest sha256 EXPECTED.tsv records and checks clean; every real image is in a format vdisk reads', async (t) => {
  const real = fixtures(t);
  if (!real) return;
  assert.deepEqual(real.images.filter((x) => !SUPPORTED.includes(x.format)).map((x) => x.path), []);
  const vdis = real.images.filter((x) => x.format === 'vdi');
  assert.ok(vdis.length >= 1, 'EXPECTED.tsv lists the real VDIs');
  for (const img of vdis) {
    await t.test(relative(real.dir, img.path), async () => {
      assert.equal(await detectFormat(img.path), 'vdi');
      const got = await readWithWarnings(img.path);
      assert.deepEqual({ size: got.size, sha: got.sha, warnings: got.warnings }, { size: img.virtualSize, sha: img.sha256, warnings: [] });
      assert.deepEqual((await check(img.path)).findings, []);
    });
  }
});

test('node-vhd fixed.vhd, a footer with no copy at offset 0, is probed as a fixed VHD', async (t) => {
  const real = fixtures(t);
  if (!real) return;
  const row = real.row('node-vhd/test/data/fixed.vhd');
  assert.equal(await detectFormat(row.path), 'vhd');
  const image = await openImage(row.path);
  try {
    const d = image.describe();
    assert.equal(d.subformat, 'fixed');
    assert.equal(d.formatSpecific?.footerSource, 'end');
    assert.equal(image.virtualSize, row.virtualSize, 'not the file size (virtual size + 512)');
    assert.equal(d.fileSize, row.virtualSize + 512);
    assert.match(vdisk('info', row.path).stdout, /^geometry: 301\/4\/17 \(cylinders\/heads\/sectors\)$/m, 'info prints the footer geometry');
    const head = Buffer.alloc(8);
    const fd = openSync(row.path, 'r');
    try {
      readSync(fd, head, 0, 8, 0);
    } finally {
      closeSync(fd);
    }
    assert.notEqual(head.toString('latin1'), 'conectix', 'the file has no footer copy at its start');
  } finally {
    await image.close();
  }
});

test('libvhdi (vhdiinfo, vhdimount) reads every real VHD as vdisk does', async (t) => {
  const real = fixtures(t);
  if (!real) return;
  for (const img of real.vhds) {
    await t.test(relative(real.dir, img.path), async (t2) => {
      if (!needTools(t2, 'vhdiinfo', 'vhdimount', 'fusermount3', '/dev/fuse')) return;
      assert.equal(vhdiinfo(img.path).mediaSize, img.virtualSize, 'vhdiinfo media size');
      const ours = (await readWithWarnings(img.path)).sha;
      await withVhdimount(img.path, async (guest) => assert.equal(await sha256OfFile(guest), ours, 'vhdimount guest view'));
      assert.equal(ours, img.sha256);
    });
  }
});

/** Images up to this size are checked through a full qemu-img convert and sha256; larger ones by qemu-img compare. */
const FULL_READ_LIMIT = 1024 ** 3;

test('every real image converted to fixed and dynamic VHD and VHDX reads in qemu-img as EXPECTED.tsv says', async (t) => {
  const real = fixtures(t);
  if (!real) return;
  const dir = tempDir('vdisk-real-convert-');
  for (const [i, img] of real.vhds.entries()) {
    await t.test(relative(real.dir, img.path), async (t2) => {
      if (!needTools(t2, 'qemu-img')) return;
      const small = img.virtualSize <= FULL_READ_LIMIT;
      for (const [format, qemuFormat] of [['vhd', 'vpc'], ['vhdx', 'vhdx']] as const) {
        for (const subformat of small ? ['fixed', 'dynamic'] : ['dynamic']) {
          const out = join(dir, `out${i}-${subformat}.${format}`);
          await convert(img.path, out, { outputFormat: format, options: { subformat } });
          assert.equal((await check(out)).result, 'clean');
          assert.equal(qemuInfo(out, qemuFormat)['virtual-size'], img.virtualSize);
          if (small) {
            const raw = join(dir, `out${i}-${subformat}-${format}.raw`);
            run('qemu-img', ['convert', '-f', qemuFormat, '-O', 'raw', out, raw]);
            assert.equal(await sha256OfFile(raw), img.sha256, `${format} ${subformat}: qemu-img's view of the copy`);
          } else {
            run('qemu-img', ['compare', '-f', img.format === 'vhd' ? 'vpc' : img.format, '-F', qemuFormat, img.path, out]);
          }
        }
      }
    });
  }
});
