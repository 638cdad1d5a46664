import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createImage, openImage } from '../../src/formats/registry.js';
import type { ImageInfo, WritableDiskImage } from '../../src/formats/types.js';
import { resize } from '../../src/ops/resize.js';
import { rejectsWithCode } from '../helpers/assert-error.js';
import { buildChain } from '../helpers/chain.js';
import { needTools, qemuInfo, run, vhdiinfo, withVhdimount } from '../helpers/oracles.js';
import { GiB, KiB, MiB, assertClean, makeImage, modelView, qemuAgrees, rawModel, replayPowerCuts, viewOf, type Writes } from '../helpers/resize.js';
import { tempDir } from '../helpers/tmp.js';
import { patchBytes, readBytes } from '../helpers/vhd.js';

async function info(path: string): Promise<ImageInfo> {
  const image = await openImage(path);
  try {
    return image.describe();
  } finally {
    await image.close();
  }
}

/** Data in blocks 0-1, a partial write in block 4 and explicit zeros (an allocated all-zero block) at 6 MiB. */
const WRITES: Writes = [
  [0, MiB + 4096, 1],
  [4 * MiB + 512, 8192, 2],
  [6 * MiB, 512 * KiB, 0],
];

describe('resize: raw', () => {
  test('grow adds zeros, exactly to the byte; qemu agrees', async (t) => {
    const dir = tempDir();
    const path = rawModel(join(dir, 'disk.raw'), 8 * MiB, WRITES);
    const r = await resize(path, 12 * MiB + 100, {});
    assert.deepEqual(r, { oldSize: 8 * MiB, newSize: 12 * MiB + 100 }, 'raw sizes are not rounded');
    assert.equal(statSync(path).size, 12 * MiB + 100);
    assert.deepEqual(await viewOf(path), await modelView(dir, 'model.raw', 12 * MiB + 100, WRITES));
    // qemu rounds a raw file's size up to whole sectors: compare at a sector multiple.
    await resize(path, 13 * MiB, {});
    assert.deepEqual(await viewOf(path), await modelView(dir, 'model13.raw', 13 * MiB, WRITES));
    qemuAgrees(t, path, 'raw', 13 * MiB, join(dir, 'model13.raw'));
  });

  test('shrink needs --shrink, refuses a cut range with data (naming the first byte), and cuts zeros', async () => {
    const dir = tempDir();
    const path = rawModel(join(dir, 'disk.raw'), 8 * MiB, WRITES);
    await rejectsWithCode(resize(path, 6 * MiB, {}), 'USAGE');
    const err = await rejectsWithCode(resize(path, 4 * MiB, { shrink: true }), 'USAGE');
    assert.equal(err.details.offset, 4 * MiB + 512);
    assert.match(err.message, /first non-zero byte at guest offset 4194816/);
    assert.equal(statSync(path).size, 8 * MiB, 'nothing changed');
    assert.deepEqual(await resize(path, 5 * MiB, { shrink: true }), { oldSize: 8 * MiB, newSize: 5 * MiB });
    assert.deepEqual(await viewOf(path), await modelView(dir, 'model.raw', 5 * MiB, WRITES));
  });
});

describe('resize: fixed VHD', () => {
  test('grow: footer moved, new range zeros, size rounded up to 512; check clean; qemu agrees', async (t) => {
    const dir = tempDir();
    const path = await makeImage(join(dir, 'f.vhd'), 'vhd', 8 * MiB, { subformat: 'fixed' }, WRITES);
    const r = await resize(path, 10 * MiB + 1, {});
    assert.deepEqual(r, { oldSize: 8 * MiB, newSize: 10 * MiB + 512 });
    assert.equal(statSync(path).size, 10 * MiB + 512 + 512);
    assert.deepEqual(await viewOf(path), await modelView(dir, 'model.raw', 10 * MiB + 512, WRITES));
    const spec = (await info(path)).formatSpecific!;
    assert.equal(spec.currentSize, 10 * MiB + 512);
    assert.equal(spec.originalSize, 10 * MiB + 512, 'original size follows (libvhdi reads it as the media size)');
    await assertClean(path);
    qemuAgrees(t, path, 'vhd', 10 * MiB + 512, join(dir, 'model.raw'));
  });

  test('shrink: refused with data in the cut range; with zeros the file ends at the new footer', async (t) => {
    const dir = tempDir();
    const path = await makeImage(join(dir, 'f.vhd'), 'vhd', 8 * MiB, { subformat: 'fixed' }, WRITES);
    await rejectsWithCode(resize(path, 7 * MiB, {}), 'USAGE');
    const err = await rejectsWithCode(resize(path, 4 * MiB, { shrink: true }), 'USAGE');
    assert.equal(err.details.offset, 4 * MiB + 512);
    await resize(path, 5 * MiB, { shrink: true });
    assert.equal(statSync(path).size, 5 * MiB + 512);
    assert.deepEqual(await viewOf(path), await modelView(dir, 'model.raw', 5 * MiB, WRITES));
    await assertClean(path);
    qemuAgrees(t, path, 'vhd', 5 * MiB, join(dir, 'model.raw'));
  });

  test('power cut at every point of a grow and of a shrink: old or new view, re-run finishes', async () => {
    const dir = tempDir();
    const path = await makeImage(join(dir, 'f.vhd'), 'vhd', 8 * MiB, { subformat: 'fixed' }, WRITES);
    const v8 = await modelView(dir, 'm8.raw', 8 * MiB, WRITES);
    const v12 = await modelView(dir, 'm12.raw', 12 * MiB, WRITES);
    const v5 = await modelView(dir, 'm5.raw', 5 * MiB, WRITES);
    const grown = await replayPowerCuts(join(dir, 'grow'), path, (p, openFile) => resize(p, 12 * MiB, { openFile }), v8, v12);
    assert.ok(grown.states >= 4, `only ${grown.states} states`);
    const shrunk = await replayPowerCuts(join(dir, 'shrink'), path, (p, openFile) => resize(p, 5 * MiB, { openFile, shrink: true }), v12, v5);
    assert.ok(shrunk.states >= 4, `only ${shrunk.states} states`);
  });
});

describe('resize: qcow2', () => {
  test('grow past what the L1 table maps moves it; shrink needs --shrink and zeros; check clean; qemu agrees', async (t) => {
    const dir = tempDir();
    const path = await makeImage(join(dir, 'q.qcow2'), 'qcow2', 8 * MiB, { cluster_size: '4K' }, WRITES);
    assert.deepEqual(await resize(path, 3 * GiB + 100, {}), { oldSize: 8 * MiB, newSize: 3 * GiB + 512 });
    assert.deepEqual(await viewOf(path), await modelView(dir, 'big.raw', 3 * GiB + 512, WRITES));
    await assertClean(path);
    qemuAgrees(t, path, 'qcow2', 3 * GiB + 512, join(dir, 'big.raw'));
    await rejectsWithCode(resize(path, 5 * MiB, {}), 'USAGE');
    await rejectsWithCode(resize(path, 4 * MiB, { shrink: true }), 'USAGE');
    assert.deepEqual(await resize(path, 5 * MiB, { shrink: true }), { oldSize: 3 * GiB + 512, newSize: 5 * MiB });
    assert.deepEqual(await viewOf(path), await modelView(dir, 'm5.raw', 5 * MiB, WRITES));
    await assertClean(path);
    qemuAgrees(t, path, 'qcow2', 5 * MiB, join(dir, 'm5.raw'));
  });

  test('power cut at every point of a grow (L1 moved) and of a shrink: old or new view, leaks at worst, re-run finishes', async () => {
    const dir = tempDir();
    const path = await makeImage(join(dir, 'q.qcow2'), 'qcow2', 8 * MiB, { cluster_size: '4K' }, WRITES);
    const v8 = await modelView(dir, 'm8.raw', 8 * MiB, WRITES);
    const v2g = await modelView(dir, 'm2g.raw', 2 * GiB, WRITES);
    const v5 = await modelView(dir, 'm5.raw', 5 * MiB, WRITES);
    const grown = await replayPowerCuts(join(dir, 'grow'), path, (p, openFile) => resize(p, 2 * GiB, { openFile }), v8, v2g, true);
    assert.ok(grown.states >= 4, `only ${grown.states} states`);
    const shrunk = await replayPowerCuts(join(dir, 'shrink'), path, (p, openFile) => resize(p, 5 * MiB, { openFile, shrink: true }), v2g, v5, true);
    assert.ok(shrunk.states >= 4, `only ${shrunk.states} states`);
  });
});

describe('resize: dynamic VHD', () => {
  const opts = { block_size: '512K' };

  test('grow past the BAT: the table moves after the last block; view, check and qemu agree', async (t) => {
    const dir = tempDir();
    const path = await makeImage(join(dir, 'd.vhd'), 'vhd', 8 * MiB, opts, WRITES);
    const before = (await info(path)).formatSpecific!;
    assert.equal(before.maxTableEntries, 16);
    await resize(path, 64 * MiB, {});
    const after = (await info(path)).formatSpecific!;
    assert.equal(after.maxTableEntries, 128, 'BAT sized to the new block count');
    assert.ok((after.tableOffset as number) > (before.tableOffset as number), 'BAT relocated after the blocks');
    assert.equal(after.currentSize, 64 * MiB);
    assert.deepEqual(await viewOf(path), await modelView(dir, 'model.raw', 64 * MiB, WRITES));
    await assertClean(path);
    qemuAgrees(t, path, 'vhd', 64 * MiB, join(dir, 'model.raw'));
    // The relocated image keeps working: new data lands after the BAT.
    const w = (await openImage(path, { writable: true })) as WritableDiskImage;
    await w.writeAt(new Uint8Array(4096).fill(9), 60 * MiB);
    await w.flush();
    await w.close();
    await assertClean(path);
  });

  test('shrink drops the blocks past the end (zeros) and gives their space back; grow again within the BAT', async (t) => {
    const dir = tempDir();
    const path = await makeImage(join(dir, 'd.vhd'), 'vhd', 8 * MiB, opts, [...WRITES, [7 * MiB, 512 * KiB, 0]]);
    const sizeBefore = statSync(path).size;
    await rejectsWithCode(resize(path, 4 * MiB, { shrink: true }), 'USAGE');
    await resize(path, 5 * MiB, { shrink: true });
    assert.ok(statSync(path).size <= sizeBefore - 2 * (512 * KiB), `file shrank (${sizeBefore} -> ${statSync(path).size})`);
    assert.deepEqual(await viewOf(path), await modelView(dir, 'm5.raw', 5 * MiB, WRITES));
    await assertClean(path);
    qemuAgrees(t, path, 'vhd', 5 * MiB, join(dir, 'm5.raw'));
    const offset = (await info(path)).formatSpecific!.tableOffset;
    await resize(path, 8 * MiB, {});
    assert.equal((await info(path)).formatSpecific!.tableOffset, offset, 'the BAT still had room: not moved');
    assert.deepEqual(await viewOf(path), await modelView(dir, 'm8.raw', 8 * MiB, WRITES));
    await assertClean(path);
    qemuAgrees(t, path, 'vhd', 8 * MiB, join(dir, 'm8.raw'));
  });

  test('bytes stored past the old end of a partial last block never surface after a grow', async () => {
    const dir = tempDir();
    const size = 4 * MiB - 64 * KiB;
    const writes: Writes = [[size - 128 * KiB, 128 * KiB, 3]];
    const path = await makeImage(join(dir, 'p.vhd'), 'vhd', size, opts, writes);
    // Block 7 holds the disk's last 448 KiB; put junk into its last 64 KiB (past the virtual size).
    const spec = (await info(path)).formatSpecific!;
    const entry = Buffer.from(readBytes(path, (spec.tableOffset as number) + 7 * 4, 4)).readUInt32BE();
    patchBytes(path, entry * 512 + 512 + 448 * KiB, new Uint8Array(64 * KiB).fill(0xee));
    await resize(path, 8 * MiB, {});
    assert.deepEqual(await viewOf(path), await modelView(dir, 'm.raw', 8 * MiB, writes));
    await assertClean(path);
  });

  test('power cut at every point of a grow that relocates the BAT, and of a shrink', async () => {
    const dir = tempDir();
    const path = await makeImage(join(dir, 'd.vhd'), 'vhd', 8 * MiB, opts, [...WRITES, [7 * MiB, 512 * KiB, 0]]);
    const v8 = await modelView(dir, 'm8.raw', 8 * MiB, WRITES);
    const v64 = await modelView(dir, 'm64.raw', 64 * MiB, WRITES);
    const v5 = await modelView(dir, 'm5.raw', 5 * MiB, WRITES);
    const grown = await replayPowerCuts(join(dir, 'grow'), path, (p, openFile) => resize(p, 64 * MiB, { openFile }), v8, v64);
    assert.ok(grown.states >= 8, `only ${grown.states} states`);
    const shrunk = await replayPowerCuts(join(dir, 'shrink'), path, (p, openFile) => resize(p, 5 * MiB, { openFile, shrink: true }), v64, v5);
    assert.ok(shrunk.states >= 4, `only ${shrunk.states} states`);
  });

  test('libvhdi reads the new size and the data of a grown (BAT moved) and of a shrunk VHD', async (t) => {
    if (!needTools(t, 'vhdiinfo')) return;
    const dir = tempDir();
    const path = await makeImage(join(dir, 'd.vhd'), 'vhd', 8 * MiB, opts, WRITES);
    await resize(path, 64 * MiB, {});
    assert.equal(vhdiinfo(path).mediaSize, 64 * MiB);
    if (needTools(t, 'vhdimount', 'fusermount3')) {
      const model = readFileSync(rawModel(join(dir, 'm64.raw'), 64 * MiB, WRITES));
      await withVhdimount(path, async (guest) => assert.ok((await readFile(guest)).equals(model), 'vhdimount reads the model'));
    }
    await resize(path, 5 * MiB, { shrink: true });
    assert.equal(vhdiinfo(path).mediaSize, 5 * MiB);
  });

  test('limits: past 2040 GiB is OUT_OF_RANGE, a non-positive size USAGE', async () => {
    const dir = tempDir();
    const path = await makeImage(join(dir, 'd.vhd'), 'vhd', 8 * MiB, opts, []);
    await rejectsWithCode(resize(path, 2041 * GiB, {}), 'OUT_OF_RANGE');
    await rejectsWithCode(resize(path, 0, {}), 'USAGE');
    await rejectsWithCode(resize(path, -1, {}), 'USAGE');
  });
});

describe('resize: VHDX', () => {
  const opts = { block_size: '1M' };

  test('grow within the BAT region; shrink; view, check and qemu agree; new DataWriteGuid', async (t) => {
    const dir = tempDir();
    const path = await makeImage(join(dir, 'a.vhdx'), 'vhdx', 8 * MiB, opts, [...WRITES, [7 * MiB, MiB, 0]]);
    const guid = (await info(path)).formatSpecific!.dataWriteGuid;
    const r = await resize(path, 64 * MiB + 1, {});
    assert.deepEqual(r, { oldSize: 8 * MiB, newSize: 64 * MiB + 512 }, 'rounded up to the logical sector');
    assert.notEqual((await info(path)).formatSpecific!.dataWriteGuid, guid, 'the visible disk changed: new DataWriteGuid');
    assert.deepEqual(await viewOf(path), await modelView(dir, 'm64.raw', 64 * MiB + 512, WRITES));
    await assertClean(path);
    qemuAgrees(t, path, 'vhdx', 64 * MiB + 512, join(dir, 'm64.raw'));
    const before = statSync(path).size;
    await rejectsWithCode(resize(path, 5 * MiB, {}), 'USAGE');
    const err = await rejectsWithCode(resize(path, 4 * MiB, { shrink: true }), 'USAGE');
    assert.equal(err.details.offset, 4 * MiB + 512);
    await resize(path, 5 * MiB, { shrink: true });
    assert.ok(statSync(path).size <= before - 2 * MiB, 'the zero blocks past the end were given back');
    assert.deepEqual(await viewOf(path), await modelView(dir, 'm5.raw', 5 * MiB, WRITES));
    await assertClean(path);
    qemuAgrees(t, path, 'vhdx', 5 * MiB, join(dir, 'm5.raw'));
  });

  test('grow past the BAT region (1 MiB blocks, 200 GiB): the BAT moves to a new region; qemu reads it', async (t) => {
    const dir = tempDir();
    const path = await makeImage(join(dir, 'big.vhdx'), 'vhdx', 8 * MiB, opts, WRITES);
    await resize(path, 200 * GiB, {});
    const spec = (await info(path)).formatSpecific!;
    assert.equal((await info(path)).virtualSize, 200 * GiB);
    assert.equal((spec.blockStates as Record<string, number>).notPresent, 200 * 1024 - 4, 'blocks 0, 1, 4 and 6 hold data');
    assert.deepEqual(await viewOf(path), await modelView(dir, 'm.raw', 200 * GiB, WRITES));
    await assertClean(path);
    assert.ok(statSync(path).size < 16 * MiB, 'still a small file');
    if (!needTools(t, 'qemu-img', 'qemu-io')) return;
    assert.equal(qemuInfo(path, 'vhdx')['virtual-size'], 200 * GiB);
    run('qemu-img', ['check', '-f', 'vhdx', path]);
    // qemu-img compare would read all 200 GiB: compare the first 16 MiB, and spot-check zeros at the end.
    const head = join(dir, 'head.raw');
    run('qemu-img', ['dd', '-f', 'vhdx', '-O', 'raw', 'bs=1M', 'count=16', `if=${path}`, `of=${head}`]);
    const model = rawModel(join(dir, 'head-model.raw'), 16 * MiB, WRITES);
    run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', head, model]);
    run('qemu-io', ['-f', 'vhdx', '-r', '-c', `read -P 0 ${200 * GiB - MiB} ${MiB}`, '-c', `read -P 0 ${100 * GiB} ${MiB}`, path]);
  });

  test('fixed VHDX stays fixed: new blocks allocated; shrink gives them back', async (t) => {
    const dir = tempDir();
    const path = await makeImage(join(dir, 'f.vhdx'), 'vhdx', 8 * MiB, { ...opts, subformat: 'fixed' }, WRITES);
    await resize(path, 12 * MiB, {});
    const i = await info(path);
    assert.equal(i.subformat, 'fixed');
    assert.deepEqual(i.formatSpecific!.blockStates, { fullyPresent: 12 });
    assert.deepEqual(await viewOf(path), await modelView(dir, 'm12.raw', 12 * MiB, WRITES));
    await assertClean(path);
    qemuAgrees(t, path, 'vhdx', 12 * MiB, join(dir, 'm12.raw'));
    const size12 = statSync(path).size;
    await resize(path, 6 * MiB, { shrink: true });
    assert.equal(statSync(path).size, size12 - 6 * MiB);
    assert.equal((await info(path)).subformat, 'fixed');
    assert.deepEqual(await viewOf(path), await modelView(dir, 'm6.raw', 6 * MiB, WRITES));
    await assertClean(path);
  });

  test('power cut at every point of a grow that relocates the BAT (to 130 GiB), and of a shrink', async () => {
    const dir = tempDir();
    const path = await makeImage(join(dir, 'r.vhdx'), 'vhdx', 8 * MiB, opts, [...WRITES, [7 * MiB, MiB, 0]]);
    const v8 = await modelView(dir, 'm8.raw', 8 * MiB, WRITES);
    const vBig = await modelView(dir, 'mbig.raw', 130 * GiB, WRITES);
    const grown = await replayPowerCuts(join(dir, 'grow'), path, (p, openFile) => resize(p, 130 * GiB, { openFile }), v8, vBig);
    assert.ok(grown.states >= 8, `only ${grown.states} states`);
    // The shrink on a small disk (the 130 GiB one takes long to view in every state under the test runner).
    const small = await makeImage(join(dir, 's.vhdx'), 'vhdx', 8 * MiB, opts, [...WRITES, [7 * MiB, MiB, 0]]);
    const v5 = await modelView(dir, 'm5.raw', 5 * MiB, WRITES);
    const shrunk = await replayPowerCuts(join(dir, 'shrink'), small, (p, openFile) => resize(p, 5 * MiB, { openFile, shrink: true }), v8, v5);
    assert.ok(shrunk.states >= 4, `only ${shrunk.states} states`);
  });
});

describe('resize: differencing images are refused', () => {
  for (const format of ['vhd', 'vhdx'] as const) {
    test(`${format} child: UNSUPPORTED, nothing changed`, async () => {
      const dir = tempDir();
      const [, child] = await buildChain(dir, 4 * MiB, [[[0, MiB, 1]], [[MiB, 4096, 2]]], format);
      const before = readBytes(child!, 0, statSync(child!).size);
      const err = await rejectsWithCode(resize(child!, 8 * MiB, {}), 'UNSUPPORTED');
      assert.match(err.message, /differencing/);
      assert.deepEqual(readBytes(child!, 0, statSync(child!).size), before);
    });
  }
});

test('a format that cannot be resized is refused, naming those that can', async () => {
  const path = join(tempDir(), 'disk.vmdk');
  const image = await createImage(path, 'vmdk', { virtualSize: 4 * MiB, options: {} });
  await image.close();
  const err = await rejectsWithCode(resize(path, 8 * MiB), 'UNSUPPORTED');
  assert.match(err.message, /resizing vmdk images is not supported \(qcow2, raw, vdi, vhd, vhdx can: convert/);
});
