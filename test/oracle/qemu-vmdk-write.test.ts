// Oracle: the VMDKs vdisk writes, read by qemu-img 7.2 (check: no errors and
// no leaks; compare against the source) and opened by vmdkinfo (libvmdk):
// conversions, unaligned in-place writes across a reopen, a snapshot chain
// whose child qemu-img reads through to its base, rebase and commit of a
// chain, stream-optimized files and VMDKs piped to stdout.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { createImage, openImage } from '../../src/formats/registry.js';
import type { WritableDiskImage } from '../../src/formats/types.js';
import { snapshot } from '../../src/ops/snapshot.js';
import { rebaseThenCommit } from '../helpers/chain-oracle.js';
import { REPO_ROOT, vdisk } from '../helpers/cli.js';
import { readAll, writeAcrossReopen, writeBoth } from '../helpers/images.js';
import { needTools, qemuCheckClean, run, toolExists, vmdkinfo } from '../helpers/oracles.js';
import { writePatternDisk } from '../helpers/pattern-disk.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;
/** Not a whole number of grains: the last grain is partial. */
const SIZE = 40 * MiB + 1536;

/** What `vdisk info --json` says of an image. */
function vdiskInfo(path: string): { formatSpecific: Record<string, unknown> & { geometry: { heads: number } } } {
  const r = vdisk('info', '--json', path);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

describe('qemu-img and vmdkinfo read the VMDKs vdisk writes', () => {
  const dir = tempDir('vdisk-vmdk-write-');
  const src = join(dir, 'src.raw');

  before(async () => {
    await writePatternDisk(src, { size: SIZE, blockSize: 64 * 1024, fraction: 0.3, seed: 0x91 });
  });

  for (const adapter of ['lsilogic', 'ide', 'pvscsi']) {
    test(`convert raw → monolithicSparse, adapter_type=${adapter}`, (t) => {
      if (!needTools(t, 'qemu-img', 'vmdkinfo')) return;
      const out = join(dir, `conv-${adapter}.vmdk`);
      const r = vdisk('convert', '-O', 'vmdk', '-o', `adapter_type=${adapter}`, src, out);
      assert.equal(r.status, 0, r.stderr);
      qemuCheckClean(out, 'vmdk');
      run('qemu-img', ['compare', '-f', 'raw', '-F', 'vmdk', src, out]);
      const info = vmdkinfo(out);
      assert.equal(info.size, SIZE);
      assert.match(info.text, /Disk type:\s*Monolithic sparse/);
      const ours = vdiskInfo(out);
      assert.equal(ours.formatSpecific.cid, info.cid);
      assert.equal(ours.formatSpecific.adapterType, adapter);
      assert.equal(ours.formatSpecific.virtualHWVersion, adapter === 'pvscsi' ? '7' : '4');
      assert.equal(ours.formatSpecific.geometry.heads, adapter === 'ide' ? 16 : 255);
      assert.equal(String(ours.formatSpecific.longContentID).slice(-8), info.cid);
      assert.equal(vdisk('check', out).status, 0);
    });
  }

  test('unaligned writes through the library, a reopen between them', async (t) => {
    const path = join(dir, 'inplace.vmdk');
    const model = await writeAcrossReopen(await createImage(path, 'vmdk', { virtualSize: SIZE, options: {} }), path, SIZE);
    if (!needTools(t, 'qemu-img', 'vmdkinfo')) return;
    const expected = join(dir, 'inplace.expected.raw');
    writeFileSync(expected, model);
    qemuCheckClean(path, 'vmdk');
    run('qemu-img', ['compare', '-f', 'raw', '-F', 'vmdk', expected, path]);
    assert.equal(vmdkinfo(path).size, SIZE);
  });

  test('vdisk snapshot: a delta qemu-img reads through to its base, vmdkinfo names the parent CID', async (t) => {
    const base = join(dir, 'base.vmdk');
    const child = join(dir, 'child.vmdk');
    assert.equal(vdisk('convert', '-O', 'vmdk', src, base).status, 0);
    await snapshot(base, child);
    const model = new Uint8Array(SIZE);
    const b = await openImage(base);
    try {
      model.set(await readAll(b));
    } finally {
      await b.close();
    }
    const image = (await openImage(child, { writable: true })) as WritableDiskImage;
    for (const [i, [offset, length]] of [[100, 5000], [5 * MiB + 3, 70000], [SIZE - 9, 9]].entries()) await writeBoth(image, model, offset!, length!, 0x400 + i);
    await image.flush();
    await image.close();
    const d = vdiskInfo(child);
    assert.equal(d.formatSpecific.parentFileNameHint, 'base.vmdk');
    if (!needTools(t, 'qemu-img', 'vmdkinfo')) return;
    const expected = join(dir, 'child.expected.raw');
    writeFileSync(expected, model);
    qemuCheckClean(child, 'vmdk');
    run('qemu-img', ['compare', '-f', 'raw', '-F', 'vmdk', expected, child]);
    const info = vmdkinfo(child);
    assert.equal(info.parentCid, vmdkinfo(base).cid);
  });
});

describe('qemu-img and vmdkinfo read the stream-optimized and piped VMDKs vdisk writes', () => {
  const dir = tempDir('vdisk-vmdk-stream-');
  const src = join(dir, 'src.raw');
  const vhdx = join(dir, 'src.vhdx');

  before(async () => {
    await writePatternDisk(src, { size: SIZE, blockSize: 64 * 1024, fraction: 0.3, seed: 0x92 });
    assert.equal(vdisk('convert', '-O', 'vhdx', src, vhdx).status, 0);
  });

  test('convert raw → streamOptimized file: version 3, markers, footer and EOS last, GD_AT_END in the header', (t) => {
    const out = join(dir, 'so.vmdk');
    const r = vdisk('convert', '-O', 'vmdk', '-o', 'subformat=streamOptimized', src, out);
    assert.equal(r.status, 0, r.stderr);
    const bytes = readFileSync(out);
    assert.equal(bytes.readUInt32LE(4), 3, 'version 3');
    assert.equal(bytes.readUInt32LE(8), 0x30001, 'flags: newline characters valid, compressed, markers');
    assert.equal(bytes.readBigUInt64LE(56), 0xffffffffffffffffn, 'gdOffset GD_AT_END');
    assert.equal(bytes.readUInt16LE(77), 1, 'compressAlgorithm DEFLATE');
    const end = bytes.length;
    assert.equal(bytes.readUInt32LE(end - 1536 + 12), 3, 'footer marker');
    assert.equal(bytes.subarray(end - 1024, end - 1020).toString('latin1'), 'KDMV', 'footer');
    const gd = Number(bytes.readBigUInt64LE(end - 1024 + 56));
    assert.equal(bytes.readUInt32LE((gd - 1) * 512 + 12), 2, 'a GD marker in front of the GD');
    assert.ok(bytes.subarray(end - 512).every((b) => b === 0), 'end-of-stream marker');
    if (!needTools(t, 'qemu-img', 'vmdkinfo')) return;
    qemuCheckClean(out, 'vmdk');
    run('qemu-img', ['compare', '-f', 'raw', '-F', 'vmdk', src, out]);
    const info = vmdkinfo(out);
    assert.match(info.text, /Disk type:\s*Stream optimized/);
    assert.equal(info.size, SIZE);
  });

  for (const subformat of ['streamOptimized', 'monolithicSparse']) {
    test(`convert vhdx → ${subformat} on stdout`, (t) => {
      const out = join(dir, `piped-${subformat}.vmdk`);
      const r = spawnSync('sh', ['-c', `node "${join(REPO_ROOT, 'bin', 'vdisk.js')}" convert -O vmdk -o subformat=${subformat} "${vhdx}" - > "${out}"`], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(vdisk('compare', src, out).status, 0);
      if (!needTools(t, 'qemu-img', 'vmdkinfo')) return;
      qemuCheckClean(out, 'vmdk');
      run('qemu-img', ['compare', '-f', 'raw', '-F', 'vmdk', src, out]);
      assert.equal(vmdkinfo(out).size, SIZE);
    });
  }
});

describe('rebase and commit of a VMDK chain through the generic chain code', () => {
  test('rebase onto the grandparent keeps the view; commit then merges the delta into the base', (t) => rebaseThenCommit(t, 'vmdk', 'parentFileNameHint'));
});

describe('qemu-img and vmdkinfo read the descriptor-and-extents VMDKs vdisk writes', () => {
  const dir = tempDir('vdisk-vmdk-extents-');
  const src = join(dir, 'src.raw');
  /** Past one 2047 MiB extent, so a split disk has two. */
  const BIG = 2048 * MiB + 6 * MiB + 512;

  before(async () => {
    await writePatternDisk(src, { size: BIG, blockSize: 64 * 1024, fraction: 0.002, seed: 0x93 });
  });

  const extentCases = [
    ['monolithicFlat', ['d-monolithicFlat-flat.vmdk'], /Monolithic flat/],
    ['twoGbMaxExtentSparse', ['d-twoGbMaxExtentSparse-s001.vmdk', 'd-twoGbMaxExtentSparse-s002.vmdk'], /2GB extent sparse/],
    ['twoGbMaxExtentFlat', ['d-twoGbMaxExtentFlat-f001.vmdk', 'd-twoGbMaxExtentFlat-f002.vmdk'], /2GB extent flat/],
  ] as const;
  for (const [subformat, files, type] of extentCases) {
    test(`convert raw → ${subformat}, then unaligned writes in place across the extents`, async (t) => {
      const out = join(dir, `d-${subformat}.vmdk`);
      const r = vdisk('convert', '-O', 'vmdk', '-o', `subformat=${subformat}`, src, out);
      assert.equal(r.status, 0, r.stderr);
      if (toolExists('qemu-img')) run('qemu-img', ['compare', '-f', 'raw', '-F', 'vmdk', src, out]);
      const image = (await openImage(out, { writable: true })) as WritableDiskImage;
      const edge = 4192256 * 512;
      const model = new Uint8Array(4 * MiB);
      const base = edge - 2 * MiB;
      await image.readAt(model, base);
      for (const [i, [offset, length]] of [[edge - 700, 1500], [edge + 3, 9], [base + 17, 70000]].entries()) {
        const data = grainPattern(length!, i);
        await image.writeAt(data, offset!);
        model.set(data, offset! - base);
      }
      await image.flush();
      assert.deepEqual(image.layer.files().slice(1).map((f) => f.slice(dir.length + 1)), files);
      await image.close();
      if (!needTools(t, 'qemu-img', 'vmdkinfo')) return;
      qemuCheckClean(out, 'vmdk');
      const whole = join(dir, `${subformat}.qemu.raw`);
      run('qemu-img', ['convert', '-f', 'vmdk', '-O', 'raw', out, whole]);
      const piece = Buffer.alloc(model.length);
      const fd = openSync(whole, 'r');
      readSync(fd, piece, 0, piece.length, base);
      closeSync(fd);
      assert.ok(piece.equals(Buffer.from(model)), 'qemu-img reads the writes across the extents');
      const info = vmdkinfo(out);
      assert.match(info.text, new RegExp(`Disk type:\\s*${type.source}`));
      assert.equal(info.size, BIG);
    });
  }
});

/** `length` bytes that differ per `seed` and per byte. */
function grainPattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed * 7 + 1) & 0xff;
  return out;
}
