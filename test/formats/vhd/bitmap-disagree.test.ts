/**
 * `check` of a dynamic VHD warns BITMAP_READERS_DISAGREE when data lies under
 * clear bitmap bits (qemu reads it, libvhdi and vdisk read zeros); the data is
 * read in 1 MiB pieces, so a run under clear bits longer than that is read
 * whole without one allocation of its size.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { check } from '../../../src/ops/check.js';
import { tempDir } from '../../helpers/tmp.js';
import { createPatternVhd, patchBytes, readBytes, VHD } from '../../helpers/vhd.js';

const MiB = 1024 * 1024;
const BLOCK = 2 * MiB;

/** A 4 MiB dynamic VHD of 2 MiB blocks with block 0 written; its bitmap bytes from `clearFrom` on cleared and its data zeroed over [0, zeroTo). */
async function vhd(name: string, clearFrom: number, zeroTo: number): Promise<string> {
  const { path } = await createPatternVhd(join(tempDir(), name), { size: 2 * BLOCK, blockSize: BLOCK, blocks: [0] });
  const sector = new DataView(readBytes(path, VHD.batOffset, 4).buffer).getUint32(0, false);
  const bitmapAt = sector * 512;
  patchBytes(path, bitmapAt + clearFrom, new Uint8Array(512 - clearFrom));
  if (zeroTo > 0) patchBytes(path, bitmapAt + 512, new Uint8Array(zeroTo));
  return path;
}

/** The BITMAP_READERS_DISAGREE findings of `check`. */
async function disagreements(path: string): Promise<string[]> {
  return (await check(path)).findings.filter((f) => f.code === 'BITMAP_READERS_DISAGREE').map((f) => f.message);
}

describe('VHD check: data under clear bitmap bits', () => {
  it('warns when the second half of a block holds data under clear bits', async () => {
    const found = await disagreements(await vhd('half.vhd', 256, 0));
    assert.deepEqual(found, ['block 0: sectors at guest offset 1048576 hold data but their bitmap bits are clear; vdisk and libvhdi read zeros there, qemu reads the data']);
  });

  it('reads past a first piece of zeros to data further on', async () => {
    assert.equal((await disagreements(await vhd('late.vhd', 0, MiB + 4096))).length, 1);
  });

  it('is quiet when everything under clear bits is zeros', async () => {
    assert.deepEqual(await disagreements(await vhd('zeros.vhd', 0, BLOCK)), []);
  });
});
