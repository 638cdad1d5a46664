// Oracle: VHDs written in place through the library (writeAt/flush, a reopen
// in between), read back by qemu-img and by libvhdi's vhdimount.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { createImage, openImage } from '../../src/formats/registry.js';
import type { WritableDiskImage } from '../../src/formats/types.js';
import { fillPattern } from '../helpers/pattern-disk.js';
import { guestSha256 } from '../helpers/images.js';
import { needTools, run, sha256OfFile, withVhdimount } from '../helpers/oracles.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;
const SIZE = 5 * MiB + 1536;

/** [offset, length]: unaligned, across 512 KiB and 2 MiB block boundaries, a lone byte, the disk's last bytes. */
const WRITES: [number, number][] = [
  [777, 1000],
  [2 * MiB - 300, 700],
  [4096, 512],
  [SIZE - 100, 100],
  [3 * MiB + 5, 1],
  [600 * 1024, MiB + 17],
  [512 * 1024 - 1, 2],
];

const VARIANTS: { name: string; options: Record<string, string> }[] = [
  { name: 'fixed', options: { subformat: 'fixed' } },
  { name: 'dynamic', options: { subformat: 'dynamic' } },
  { name: 'dynamic block_size=512K', options: { subformat: 'dynamic', block_size: '512K' } },
];

/** Bytes `length` long for a write at `offset`: a pattern unique to `seed`, odd tails included. */
function payload(offset: number, length: number, seed: number): Uint8Array {
  const data = new Uint8Array(length + 4);
  fillPattern(data.subarray(0, (length + 4) & ~3), offset, seed);
  return data.subarray(0, length);
}

/**
 * Creates `path`, applies WRITES (reopening after the third, flushing after
 * each when `flushEach`), and returns the expected guest view.
 */
async function writeImage(path: string, options: Record<string, string>, flushEach: boolean): Promise<Uint8Array> {
  const expected = new Uint8Array(SIZE);
  let image: WritableDiskImage = await createImage(path, 'vhd', { virtualSize: SIZE, options });
  try {
    for (const [i, [offset, length]] of WRITES.entries()) {
      const data = payload(offset, length, 0x800 + i);
      await image.writeAt(data, offset);
      expected.set(data, offset);
      if (flushEach) await image.flush();
      if (i === 2) {
        await image.flush();
        await image.close();
        image = (await openImage(path, { writable: true })) as WritableDiskImage;
      }
    }
    await image.flush();
  } finally {
    await image.close();
  }
  return expected;
}

/** Checks `path` against `expected` with vdisk, qemu-img compare and vhdimount. */
async function assertReadersAgree(t: TestContext, path: string, expected: Uint8Array): Promise<void> {
  const expectedRaw = `${path}.expected.raw`;
  writeFileSync(expectedRaw, expected);
  const want = await sha256OfFile(expectedRaw);
  const image = await openImage(path);
  try {
    assert.equal(await guestSha256(image), want, 'vdisk reads back the writes');
    assert.deepEqual((await image.check()).filter((f) => f.severity !== 'warning'), []);
  } finally {
    await image.close();
  }
  await t.test('qemu-img compare', (t2) => {
    if (!needTools(t2, 'qemu-img')) return;
    run('qemu-img', ['compare', '-f', 'raw', '-F', 'vpc', expectedRaw, path]);
  });
  await t.test('vhdimount', async (t2) => {
    if (!needTools(t2, 'vhdimount', 'fusermount3', '/dev/fuse')) return;
    await withVhdimount(path, async (guest) => assert.equal(await sha256OfFile(guest), want));
  });
}

describe('in-place writes through the library, read by qemu-img and libvhdi', () => {
  const dir = tempDir('vdisk-oracle-writer-');
  for (const [i, v] of VARIANTS.entries()) {
    test(`${v.name}: unaligned writes, each flushed`, async (t) => {
      const path = join(dir, `flushed${i}.vhd`);
      await assertReadersAgree(t, path, await writeImage(path, v.options, true));
    });
    test(`${v.name}: unaligned writes with no flush between them`, async (t) => {
      const path = join(dir, `unflushed${i}.vhd`);
      await assertReadersAgree(t, path, await writeImage(path, v.options, false));
    });
  }
});
