/**
 * VDI compact: all-zero data blocks dropped (free in a base, zero in a
 * differencing image), the last blocks moved into the holes and the file
 * cut; a power cut at every flush point leaves the same view.
 */
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createImage, openImage } from '../../../src/formats/registry.js';
import { compact } from '../../../src/ops/compact.js';
import { rejectsWithCode } from '../../helpers/assert-error.js';
import { KiB, MiB, assertClean, formatSpecificOf, makeImage, modelView, qemuAgrees, replayPowerCuts, viewOf, type Writes } from '../../helpers/resize.js';
import { tempDir } from '../../helpers/tmp.js';

/** 1 MiB blocks written in this order: data, zeros, data (partial), zeros, zeros, data (partial). */
const WRITES: Writes = [
  [0, MiB, 1],
  [MiB, MiB, 0],
  [2 * MiB + 4096, 4096, 2],
  [5 * MiB, MiB, 0],
  [3 * MiB, MiB, 0],
  [7 * MiB, 8192, 3],
];

describe('compact: VDI', () => {
  test('drops exactly the all-zero blocks, packs the rest, the file shrinks by them; view, check and qemu agree', async (t) => {
    const dir = tempDir();
    const path = await makeImage(join(dir, 'd.vdi'), 'vdi', 8 * MiB, {}, WRITES);
    assert.equal((await formatSpecificOf(path)).blocksAllocated, 6);
    const r = await compact(path, {});
    assert.equal(r.blocksDropped, 3);
    assert.equal(statSync(path).size, 2 * MiB + 3 * MiB, 'three data blocks after the header and the array');
    assert.equal(r.bytesBefore - r.bytesAfter, 3 * MiB);
    const after = await formatSpecificOf(path);
    assert.equal(after.blocksAllocated, 3);
    assert.equal(after.blocksAllocatedInHeader, 3);
    assert.deepEqual(await viewOf(path), await modelView(dir, 'm.raw', 8 * MiB, WRITES));
    await assertClean(path);
    qemuAgrees(t, path, 'vdi', 8 * MiB, join(dir, 'm.raw'));
    assert.equal((await compact(path, {})).blocksDropped, 0, 'a second run finds nothing');
  });

  test('power cut at every point: the view never changes, re-running finishes', async () => {
    const dir = tempDir();
    const path = await makeImage(join(dir, 'd.vdi'), 'vdi', 8 * MiB, { block_size: '64K' }, WRITES);
    const view = await modelView(dir, 'm.raw', 8 * MiB, WRITES);
    const replay = await replayPowerCuts(dir, path, (p, openFile) => compact(p, { openFile }), view, view);
    assert.ok(replay.states >= 6, `only ${replay.states} states`);
  });

  test('a differencing VDI: zero blocks become BLOCK_ZERO and still hide the parent; compacting the parent keeps the child valid', async () => {
    const dir = tempDir();
    const base = await makeImage(join(dir, 'base.vdi'), 'vdi', 4 * MiB, {}, [[0, 3 * MiB, 5], [3 * MiB, MiB, 0]]);
    const child = join(dir, 'child.vdi');
    const parent = await openImage(base);
    const image = await createImage(child, 'vdi', { virtualSize: 4 * MiB, options: {}, parent });
    await image.writeAt(new Uint8Array(MiB), MiB);
    await image.writeAt(new Uint8Array(512 * KiB).fill(9), 2 * MiB);
    await image.flush();
    await image.close();
    await parent.close();
    const before = await viewOf(child);
    assert.equal((await compact(child, {})).blocksDropped, 1);
    assert.deepEqual(await viewOf(child), before, 'the zeroed block still hides the parent');
    assert.equal(statSync(child).size, 2 * MiB + MiB);
    await assertClean(child);
    assert.equal((await compact(base, {})).blocksDropped, 1);
    assert.deepEqual(await viewOf(child), before, 'the child opens over the compacted parent with the same view');
    await assertClean(base);
  });

  test('a fixed VDI is refused (UNSUPPORTED)', async () => {
    const dir = tempDir();
    const path = await makeImage(join(dir, 'f.vdi'), 'vdi', 4 * MiB, { subformat: 'fixed' }, []);
    await rejectsWithCode(compact(path, {}), 'UNSUPPORTED');
  });
});
