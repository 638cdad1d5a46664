/**
 * Writing VDI: what vdisk writes (dynamic, fixed, differencing) passes
 * `qemu-img check` and `qemu-img compare` where qemu reads it, keeps its
 * layout as VirtualBox lays it out, and survives a reopen.
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { createImage, openImage } from '../../../src/formats/registry.js';
import { check } from '../../../src/ops/check.js';
import { convert } from '../../../src/ops/convert.js';
import { commit } from '../../../src/ops/commit.js';
import { rebase } from '../../../src/ops/rebase.js';
import { snapshot } from '../../../src/ops/snapshot.js';
import type { WritableDiskImage } from '../../../src/formats/types.js';
import { writePatternDisk } from '../../helpers/pattern-disk.js';
import { guestSha256OfFile, readAll } from '../../helpers/images.js';
import { needTools, run } from '../../helpers/oracles.js';
import { tempDir } from '../../helpers/tmp.js';

const MiB = 1024 * 1024;

for (const subformat of ['dynamic', 'fixed']) {
  test(`convert raw → ${subformat} VDI: qemu-img check is clean, qemu-img compare equal, vdisk reads it back`, async (t) => {
    const dir = tempDir();
    const raw = join(dir, 'src.raw');
    await writePatternDisk(raw, { size: 13 * MiB + 3 * 512, blockSize: 512 * 1024, fraction: 0.4 });
    const out = join(dir, 'out.vdi');
    await convert(raw, out, { outputFormat: 'vdi', options: { subformat } });
    const head = readFileSync(out).subarray(0, 512);
    const view = new DataView(head.buffer, head.byteOffset);
    assert.equal(view.getUint32(72 + 268, true), MiB, 'block array at 1 MiB (VDI_DATA_ALIGN)');
    assert.equal(view.getUint32(72 + 272, true), 2 * MiB, 'data at 2 MiB');
    assert.equal(await guestSha256OfFile(out), await guestSha256OfFile(raw));
    assert.deepEqual((await check(out)).findings, []);
    const opened = await openImage(out);
    const info = opened.describe();
    await opened.close();
    assert.equal(statSync(out).size, 2 * MiB + Number(info.formatSpecific?.blocksAllocated) * MiB, 'the file ends after its last block');
    if (subformat === 'dynamic') assert.ok(Number(info.formatSpecific?.blocksAllocated) < 14, 'all-zero blocks are not stored');
    if (!needTools(t, 'qemu-img')) return;
    run('qemu-img', ['check', '-f', 'vdi', out]);
    run('qemu-img', ['compare', '-f', 'raw', '-F', 'vdi', raw, out]);
  });
}

test('a differencing VDI: writes land in the child, whole blocks copied up from the parent; commit puts them in the base', async () => {
  const dir = tempDir();
  const base = join(dir, 'base.vdi');
  const image = await createImage(base, 'vdi', { virtualSize: 4 * MiB, options: {} });
  await image.writeAt(new Uint8Array(MiB).fill(1), 0);
  await image.writeAt(new Uint8Array(MiB).fill(2), 2 * MiB);
  await image.flush();
  await image.close();
  const parent = await openImage(base);
  const childPath = join(dir, 'child.vdi');
  const child = await createImage(childPath, 'vdi', { virtualSize: 4 * MiB, options: {}, parent });
  await child.writeAt(new Uint8Array(4096).fill(9), 2 * MiB + 8192);
  await child.writeZeroes(0, MiB);
  await child.flush();
  await child.close();
  const again = await openImage(childPath);
  try {
    assert.equal(again.parent?.path, base);
    const all = await readAll(again);
    assert.ok(all.subarray(0, MiB).every((x) => x === 0), 'zeroed block hides the parent');
    assert.ok(all.subarray(2 * MiB, 2 * MiB + 8192).every((x) => x === 2), 'the rest of the block copied from the parent');
    assert.ok(all.subarray(2 * MiB + 8192, 2 * MiB + 12288).every((x) => x === 9));
    assert.deepEqual(again.describe().formatSpecific?.blocksAllocated, 1);
  } finally {
    await again.close();
  }
  assert.deepEqual((await check(childPath)).findings, []);
});

test('a crash after data but before the block array leaves a leak that check reports and the next writable open cuts off', async () => {
  const dir = tempDir();
  const path = join(dir, 'c.vdi');
  const image = await createImage(path, 'vdi', { virtualSize: 4 * MiB, options: {} });
  await image.writeAt(new Uint8Array(MiB).fill(5), MiB);
  await image.flush();
  await image.writeAt(new Uint8Array(MiB).fill(6), 3 * MiB);
  await image.close();
  assert.deepEqual((await check(path)).findings.map((f) => f.code), ['LEAKED_BLOCKS']);
  const again = (await openImage(path, { writable: true })) as WritableDiskImage;
  await again.writeAt(new Uint8Array(512).fill(7), 0);
  await again.flush();
  await again.close();
  assert.deepEqual((await check(path)).findings, []);
  const reread = await openImage(path);
  const all = await readAll(reread);
  await reread.close();
  assert.deepEqual([all[0], all[512], all[MiB], all[3 * MiB]], [7, 0, 5, 0]);
});

test('snapshot, commit and rebase of a VDI chain: the guest view is kept at every step', async () => {
  const dir = tempDir();
  const base = join(dir, 'base.vdi');
  const b = await createImage(base, 'vdi', { virtualSize: 3 * MiB, options: {} });
  await b.writeAt(new Uint8Array(MiB).fill(1), 0);
  await b.flush();
  await b.close();
  const child = join(dir, 'child.vdi');
  await snapshot(base, child);
  const c = (await openImage(child, { writable: true })) as WritableDiskImage;
  await c.writeAt(new Uint8Array(MiB).fill(3), 2 * MiB);
  await c.flush();
  await c.close();
  const view = await guestSha256OfFile(child);
  const copy = join(dir, 'copy.vdi');
  await convert(base, copy, { outputFormat: 'vdi' });
  assert.equal((await rebase(child, copy)).copiedBytes, 0, 'the copy holds what the base held');
  assert.equal(await guestSha256OfFile(child), view, 'rebased onto an equal copy');
  await commit(child);
  assert.equal(await guestSha256OfFile(copy), view, 'committed into the new base');
});

test('concurrent writes into one block of a differencing VDI all land: convert -n of a raw disk into a child reads back as that disk', async () => {
  const dir = tempDir();
  const base = join(dir, 'base.vdi');
  const b = await createImage(base, 'vdi', { virtualSize: 8 * MiB, options: {} });
  await b.writeAt(new Uint8Array(8 * MiB).fill(1), 0);
  await b.flush();
  await b.close();
  const childPath = join(dir, 'child.vdi');
  await snapshot(base, childPath);
  const c = (await openImage(childPath, { writable: true })) as WritableDiskImage;
  // One 1 MiB block, three writes at once: each reads the whole block to write it back, so without ordering the last one undid the others.
  await Promise.all([c.writeAt(new Uint8Array(65536).fill(7), 2 * MiB + 65536), c.writeZeroes(2 * MiB + 262144, 65536), c.writeAt(new Uint8Array(512).fill(8), 2 * MiB + 524288)]);
  await c.flush();
  await c.close();
  const again = await openImage(childPath);
  const all = await readAll(again);
  await again.close();
  assert.ok(all.subarray(2 * MiB + 65536, 2 * MiB + 131072).every((x) => x === 7), 'the first write');
  assert.ok(all.subarray(2 * MiB + 262144, 2 * MiB + 327680).every((x) => x === 0), 'the zeroes');
  assert.ok(all.subarray(2 * MiB + 524288, 2 * MiB + 524800).every((x) => x === 8), 'the third write');
  assert.ok(all.subarray(2 * MiB, 2 * MiB + 65536).every((x) => x === 1), 'the parent around them');

  const raw = join(dir, 'changed.raw');
  await writePatternDisk(raw, { size: 8 * MiB, blockSize: 64 * 1024, fraction: 0.5, seed: 77 });
  await convert(raw, childPath, { existing: true });
  assert.equal(await guestSha256OfFile(childPath), await guestSha256OfFile(raw));
});

test('the parent of a differencing VDI is found by its UUID whatever its name: a base named disk.img', async () => {
  const dir = tempDir();
  const base = join(dir, 'disk.img');
  const b = await createImage(base, 'vdi', { virtualSize: 2 * MiB, options: {} });
  await b.writeAt(new Uint8Array(MiB).fill(5), 0);
  await b.flush();
  await b.close();
  await createImage(join(dir, 'other.raw'), 'raw', { virtualSize: 2 * MiB, options: {} }).then((o) => o.close());
  const child = join(dir, 'child.vdi');
  await snapshot(base, child);
  const opened = await openImage(child);
  try {
    assert.equal(opened.parent?.path, base);
  } finally {
    await opened.close();
  }
  await commit(child);
  assert.equal(await guestSha256OfFile(base), await guestSha256OfFile(child));
});
