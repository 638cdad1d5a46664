import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { openImage } from '../../src/formats/registry.js';
import type { ImageInfo } from '../../src/formats/types.js';
import { fileHelper } from '../../src/io/native.js';
import { compact } from '../../src/ops/compact.js';
import { resize } from '../../src/ops/resize.js';
import { rejectsWithCode } from '../helpers/assert-error.js';
import { buildChain } from '../helpers/chain.js';
import { GiB, KiB, MiB, assertClean, makeImage, modelView, qemuAgrees, rawModel, replayPowerCuts, viewOf, type Writes } from '../helpers/resize.js';
import { needTools, run } from '../helpers/oracles.js';
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

/** Blocks of 512 KiB (VHD) or 1 MiB (VHDX) written in this order: data, zeros, data, zeros, zeros, data. */
function writes(block: number): Writes {
  return [
    [0, block, 1],
    [block, block, 0],
    [2 * block + 4096, 4096, 2],
    [5 * block, block, 0],
    [3 * block, block, 0],
    [7 * block, 8192, 3],
  ];
}

describe('compact: dynamic VHD', () => {
  const B = 512 * KiB;
  const span = B + 512;
  /** Distance between blocks: the bitmap sector padded so the data is 4 KiB aligned (as Windows places them). */
  const stride = B + 4096;

  test('drops exactly the all-zero blocks; the file shrinks by them; view, check and qemu agree', async (t) => {
    const dir = tempDir();
    const w = writes(B);
    const path = await makeImage(join(dir, 'd.vhd'), 'vhd', 8 * MiB, { block_size: '512K' }, w);
    assert.equal((await info(path)).formatSpecific!.allocatedBlocks, 6);
    const r = await compact(path, {});
    assert.equal(r.blocksDropped, 3);
    assert.equal(r.bytesBefore - r.bytesAfter, 3 * stride);
    assert.equal(statSync(path).size, r.bytesAfter);
    assert.ok(r.allocatedAfter <= r.allocatedBefore);
    assert.equal((await info(path)).formatSpecific!.allocatedBlocks, 3);
    assert.deepEqual(await viewOf(path), await modelView(dir, 'm.raw', 8 * MiB, w));
    await assertClean(path);
    qemuAgrees(t, path, 'vhd', 8 * MiB, join(dir, 'm.raw'));
    assert.equal((await compact(path, {})).blocksDropped, 0, 'a second run finds nothing');
    assert.equal(statSync(path).size, r.bytesAfter);
  });

  test('a block whose bitmap is clear but whose stored bytes are not zero is kept (qemu reads those bytes)', async () => {
    const dir = tempDir();
    const path = await makeImage(join(dir, 'd.vhd'), 'vhd', 4 * MiB, { block_size: '512K' }, [[0, B, 0]]);
    const table = (await info(path)).formatSpecific!.tableOffset as number;
    const at = Buffer.from(readBytes(path, table, 4)).readUInt32BE() * 512;
    patchBytes(path, at, new Uint8Array(512));
    patchBytes(path, at + 512 + 1000, new Uint8Array([7]));
    assert.equal((await compact(path, {})).blocksDropped, 0);
    assert.equal((await info(path)).formatSpecific!.allocatedBlocks, 1);
  });

  test('after a grow that moved the BAT past the blocks, compact moves it back down behind them', async (t) => {
    const dir = tempDir();
    const w = writes(B);
    const path = await makeImage(join(dir, 'd.vhd'), 'vhd', 4 * MiB, { block_size: '512K' }, w);
    await resize(path, 32 * MiB, {});
    const moved = (await info(path)).formatSpecific!.tableOffset as number;
    const r = await compact(path, {});
    assert.equal(r.blocksDropped, 3);
    const now = (await info(path)).formatSpecific!.tableOffset as number;
    assert.ok(now < moved, `BAT moved down (${moved} -> ${now})`);
    assert.equal(r.bytesAfter, 4096 - 512 + 2 * stride + span + 512 + 512, 'footer copy, header, old BAT sector, padding, 3 aligned blocks, BAT, footer');
    assert.deepEqual(await viewOf(path), await modelView(dir, 'm.raw', 32 * MiB, w));
    await assertClean(path);
    qemuAgrees(t, path, 'vhd', 32 * MiB, join(dir, 'm.raw'));
  });

  test('power cut at every point: the view never changes, re-running finishes', async () => {
    const dir = tempDir();
    const w = writes(B);
    const path = await makeImage(join(dir, 'd.vhd'), 'vhd', 4 * MiB, { block_size: '512K' }, w);
    await resize(path, 32 * MiB, {});
    const view = await modelView(dir, 'm.raw', 32 * MiB, w);
    const r = await replayPowerCuts(join(dir, 'cuts'), path, (p, openFile) => compact(p, { openFile }), view, view);
    assert.ok(r.states >= 10, `only ${r.states} states`);
  });
});

describe('compact: VHDX', () => {
  test('drops exactly the all-zero blocks, keeps the DataWriteGuid; view, check and qemu agree', async (t) => {
    const dir = tempDir();
    const w = writes(MiB);
    const path = await makeImage(join(dir, 'a.vhdx'), 'vhdx', 16 * MiB, { block_size: '1M' }, w);
    const before = (await info(path)).formatSpecific!;
    const r = await compact(path, {});
    assert.equal(r.blocksDropped, 3);
    assert.equal(r.bytesBefore - r.bytesAfter, 3 * MiB);
    const after = (await info(path)).formatSpecific!;
    assert.deepEqual(after.blockStates, { fullyPresent: 3, notPresent: 13 });
    assert.equal(after.dataWriteGuid, before.dataWriteGuid, 'the guest view did not change: same DataWriteGuid');
    assert.notEqual(after.fileWriteGuid, before.fileWriteGuid);
    assert.deepEqual(await viewOf(path), await modelView(dir, 'm.raw', 16 * MiB, w));
    await assertClean(path);
    qemuAgrees(t, path, 'vhdx', 16 * MiB, join(dir, 'm.raw'));
    const bytes = readFileSync(path);
    assert.equal((await compact(path, {})).blocksDropped, 0);
    assert.ok(readFileSync(path).equals(bytes), 'a second run changes nothing, not even the header');
  });

  test('after a grow that moved the BAT past the blocks (130 GiB), compact moves it back down', async (t) => {
    const dir = tempDir();
    const w: Writes = [[0, 2 * MiB, 1], [4 * MiB + 512, 8192, 2], [6 * MiB, 2 * MiB, 0]];
    const path = await makeImage(join(dir, 'a.vhdx'), 'vhdx', 8 * MiB, { block_size: '1M' }, w);
    await resize(path, 130 * GiB, {});
    assert.equal(statSync(path).size, 11 * MiB, 'blocks up to 9 MiB, then the 2 MiB BAT');
    const r = await compact(path, {});
    assert.equal(r.blocksDropped, 2);
    assert.equal(r.bytesAfter, 8 * MiB, 'the last block moved into the old BAT region, the BAT right after the blocks');
    assert.deepEqual(await viewOf(path), await modelView(dir, 'm.raw', 130 * GiB, w));
    await assertClean(path);
    if (!needTools(t, 'qemu-img')) return;
    run('qemu-img', ['check', '-f', 'vhdx', path]);
    const head = join(dir, 'head.raw');
    run('qemu-img', ['dd', '-f', 'vhdx', '-O', 'raw', 'bs=1M', 'count=8', `if=${path}`, `of=${head}`]);
    run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', head, rawModel(join(dir, 'head-model.raw'), 8 * MiB, w)]);
  });

  test('power cut at every point: the view never changes, re-running finishes', async () => {
    const dir = tempDir();
    const w = writes(MiB);
    const path = await makeImage(join(dir, 'a.vhdx'), 'vhdx', 16 * MiB, { block_size: '1M' }, w);
    const view = await modelView(dir, 'm.raw', 16 * MiB, w);
    const r = await replayPowerCuts(join(dir, 'cuts'), path, (p, openFile) => compact(p, { openFile }), view, view);
    assert.ok(r.states >= 10, `only ${r.states} states`);
  });
});

describe('compact: raw', () => {
  test('all-zero 64 KiB pieces become holes; the view is unchanged', async (t) => {
    if (fileHelper.kind !== 'native') {
      t.skip('no native helper: raw compact is UNSUPPORTED');
      return;
    }
    const dir = tempDir();
    const w: Writes = [[0, MiB, 1], [MiB, 2 * MiB, 0], [3 * MiB + 4096, 4096, 2]];
    const path = rawModel(join(dir, 'disk.raw'), 8 * MiB, w); // the zeros are written: allocated
    const r = await compact(path, {});
    assert.ok(r.blocksDropped >= 32, `dropped ${r.blocksDropped} pieces`);
    assert.equal(r.bytesAfter, 8 * MiB, 'size kept');
    assert.ok(r.allocatedAfter <= r.allocatedBefore - 2 * MiB, `allocated ${r.allocatedBefore} -> ${r.allocatedAfter}`);
    assert.deepEqual(await viewOf(path), await modelView(dir, 'm.raw', 8 * MiB, w));
  });
});

describe('compact: refusals and chains', () => {
  test('fixed VHD and fixed VHDX: UNSUPPORTED', async () => {
    const dir = tempDir();
    await rejectsWithCode(compact(await makeImage(join(dir, 'f.vhd'), 'vhd', 4 * MiB, { subformat: 'fixed' }, []), {}), 'UNSUPPORTED');
    await rejectsWithCode(compact(await makeImage(join(dir, 'f.vhdx'), 'vhdx', 4 * MiB, { subformat: 'fixed', block_size: '1M' }, []), {}), 'UNSUPPORTED');
  });

  for (const format of ['vhd', 'vhdx'] as const) {
    test(`${format}: a differencing child is refused; compacting its parent keeps the child valid`, async () => {
      const dir = tempDir();
      const block = format === 'vhd' ? 512 * KiB : MiB;
      const [base, child] = await buildChain(dir, 8 * MiB, [[[0, block, 1], [2 * block, block, 0]], [[block + 4096, 4096, 2]]], format);
      await rejectsWithCode(compact(child!, {}), 'UNSUPPORTED');
      const before = await viewOf(child!);
      assert.equal((await compact(base!, {})).blocksDropped, 1);
      assert.deepEqual(await viewOf(child!), before, 'the child opens over the compacted parent with the same view');
      await assertClean(base!);
    });
  }
});
