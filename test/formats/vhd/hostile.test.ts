/**
 * Hostile input, part 1: a valid small dynamic VHD (4 MiB, 512 KiB blocks,
 * blocks 0, 2, 5 written) is damaged on disk; opening must fail with the
 * right DiskImageError code, or read correctly with a warning.
 */
import assert from 'node:assert/strict';
import { copyFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { createImage, openImage } from '../../../src/formats/registry.js';
import type { ErrorCode } from '../../../src/errors.js';
import { rejectsWithCode } from '../../helpers/assert-error.js';
import { readAll } from '../../helpers/images.js';
import { tempDir } from '../../helpers/tmp.js';
import {
  VHD,
  createPatternVhd,
  endFooterOffset,
  fixChecksums,
  openWithWarnings,
  patchBothFooters,
  patchU32,
  patchU64,
  readBytes,
  truncateFile,
  type PatternVhd,
} from '../../helpers/vhd.js';

const BLOCK = 512 * 1024;
const SPAN = 512 + BLOCK;
/** Distance between blocks vdisk appends: the 512-byte bitmap padded so each block's data is 4 KiB aligned (bat.ts appendedBlockOffset). */
const STRIDE = 4096 + BLOCK;
const dir = tempDir();
let pristine: PatternVhd;
let copies = 0;

before(async () => {
  pristine = await createPatternVhd(join(dir, 'pristine.vhd'), { size: 8 * BLOCK, blockSize: BLOCK, blocks: [0, 2, 5] });
});

/** A fresh copy of the pristine image to damage. */
function copy(): string {
  const path = join(dir, `case-${copies++}.vhd`);
  copyFileSync(pristine.path, path);
  return path;
}

/** Opens, reads everything, and checks it equals the model; returns the warnings. */
async function readsModel(path: string): Promise<string[]> {
  const { image, warnings } = await openWithWarnings(path);
  try {
    assert.ok(Buffer.from(await readAll(image)).equals(Buffer.from(pristine.model)), 'guest data differs from the model');
  } finally {
    await image.close();
  }
  return warnings;
}

function batEntry(path: string, i: number): number {
  return Buffer.from(readBytes(path, VHD.batOffset + 4 * i, 4)).readUInt32BE();
}

describe('truncated files', () => {
  const cases: [string, (size: number) => number, ErrorCode][] = [
    ['100 bytes', () => 100, 'INVALID_FORMAT'],
    ['511 bytes', () => 511, 'INVALID_FORMAT'],
    ['512 bytes (only the footer copy)', () => 512, 'CORRUPT'],
    ['1000 bytes (mid-header)', () => 1000, 'INVALID_FORMAT'],
    ['mid-BAT', () => VHD.batOffset + 16, 'CORRUPT'],
    ['mid first block', () => 2048 + 1000, 'CORRUPT'],
    ['mid last block', (size) => size - 512 - 4096, 'CORRUPT'],
  ];
  for (const [name, cut, code] of cases) {
    it(`cut at ${name}: ${code}`, async () => {
      const path = copy();
      truncateFile(path, cut(statSync(path).size));
      await rejectsWithCode(openImage(path), code);
      await rejectsWithCode(openImage(path, { format: 'vhd' }), code);
    });
  }

  it('cut at 0 bytes: not a VHD (INVALID_FORMAT with -f vhd; probing finds an empty raw disk)', async () => {
    const path = copy();
    truncateFile(path, 0);
    await rejectsWithCode(openImage(path, { format: 'vhd' }), 'INVALID_FORMAT');
    const image = await openImage(path);
    assert.equal(image.format, 'raw');
    assert.equal(image.virtualSize, 0);
    await image.close();
  });

  it('cut inside the end footer: reads from the footer copy with a warning', async () => {
    const path = copy();
    truncateFile(path, statSync(path).size - 100);
    const warnings = await readsModel(path);
    assert.ok(warnings.some((w) => /using the footer copy/.test(w)), warnings.join('\n'));
  });
});

describe('footer damage', () => {
  it('wrong end footer checksum: reads from the copy, warns, data intact', async () => {
    const path = copy();
    patchU32(path, endFooterOffset(path) + VHD.footerChecksum, 0x12345678);
    const warnings = await readsModel(path);
    assert.ok(warnings.some((w) => /end footer checksum is wrong; using the footer copy/.test(w)), warnings.join('\n'));
  });

  it('wrong checksum in both footers: reads with a warning naming both checksums', async () => {
    const path = copy();
    patchU32(path, VHD.footerChecksum, 0x12345678);
    patchU32(path, endFooterOffset(path) + VHD.footerChecksum, 0x12345678);
    const warnings = await readsModel(path);
    assert.ok(warnings.some((w) => /footer checksum is 0x12345678, expected 0x[0-9a-f]{8}/.test(w)), warnings.join('\n'));
  });

  it('disk type 5 in both footers (valid checksums): UNSUPPORTED', async () => {
    const path = copy();
    patchBothFooters(path, (base) => patchU32(path, base + VHD.footerDiskType, 5));
    const err = await rejectsWithCode(openImage(path), 'UNSUPPORTED');
    assert.equal(err.details.value, 5);
  });

  it('disk type 5 in the end footer with a stale checksum: the copy stands in', async () => {
    const path = copy();
    patchU32(path, endFooterOffset(path) + VHD.footerDiskType, 5);
    const warnings = await readsModel(path);
    assert.ok(warnings.some((w) => /footer copy/.test(w)), warnings.join('\n'));
  });

  it('current size 2^60: OUT_OF_RANGE', async () => {
    const path = copy();
    patchBothFooters(path, (base) => patchU64(path, base + VHD.footerCurrentSize, 1n << 60n));
    await rejectsWithCode(openImage(path), 'OUT_OF_RANGE');
  });

  it('current size 2^52 (addressable, absurd): CORRUPT, the BAT is far too small', async () => {
    const path = copy();
    patchBothFooters(path, (base) => patchU64(path, base + VHD.footerCurrentSize, 1n << 52n));
    const err = await rejectsWithCode(openImage(path), 'CORRUPT');
    assert.equal(err.details.field, 'maxTableEntries');
  });

  it('data offset past the end of the file: CORRUPT', async () => {
    const path = copy();
    const size = BigInt(statSync(path).size);
    patchBothFooters(path, (base) => patchU64(path, base + VHD.footerDataOffset, size + 512n));
    await rejectsWithCode(openImage(path), 'CORRUPT');
  });

  it('data offset none (0xffff...) or unaligned on a dynamic disk: CORRUPT', async () => {
    for (const value of [0xffffffffffffffffn, 513n]) {
      const path = copy();
      patchBothFooters(path, (base) => patchU64(path, base + VHD.footerDataOffset, value));
      const err = await rejectsWithCode(openImage(path), 'CORRUPT');
      assert.equal(err.details.field, 'dataOffset', String(value));
    }
  });

  it('data offset past 2^53: OUT_OF_RANGE', async () => {
    const path = copy();
    patchBothFooters(path, (base) => patchU64(path, base + VHD.footerDataOffset, 1n << 60n));
    await rejectsWithCode(openImage(path), 'OUT_OF_RANGE');
  });
});

describe('fixed VHD damage', () => {
  it('a fixed footer claiming more data than the file holds: CORRUPT', async () => {
    const path = join(dir, 'fixed.vhd');
    const image = await createImage(path, 'vhd', { virtualSize: 4 * BLOCK, options: { subformat: 'fixed' } });
    await image.close();
    const at = endFooterOffset(path);
    patchU64(path, at + VHD.footerCurrentSize, BigInt(4 * BLOCK + 512));
    fixChecksums(path);
    const err = await rejectsWithCode(openImage(path), 'CORRUPT');
    assert.equal(err.details.field, 'currentSize');
  });
});

describe('dynamic header damage', () => {
  it('wrong header checksum: reads with a warning, data intact', async () => {
    const path = copy();
    patchU32(path, VHD.headerOffset + VHD.headerChecksum, 0xdeadbeef);
    const warnings = await readsModel(path);
    assert.ok(warnings.some((w) => /dynamic header checksum is 0xdeadbeef/.test(w)), warnings.join('\n'));
  });

  it('header cookie destroyed: CORRUPT', async () => {
    const path = copy();
    patchU32(path, VHD.headerOffset, 0);
    fixChecksums(path);
    const err = await rejectsWithCode(openImage(path), 'CORRUPT');
    assert.equal(err.details.field, 'cookie');
  });

  for (const blockSize of [0, 256, 3 * 256 * 1024, 0x80000001]) {
    it(`block size ${blockSize}: CORRUPT`, async () => {
      const path = copy();
      patchU32(path, VHD.headerOffset + VHD.headerBlockSize, blockSize);
      fixChecksums(path);
      const err = await rejectsWithCode(openImage(path), 'CORRUPT');
      assert.equal(err.details.field, 'blockSize');
    });
  }

  it('block size 2 GiB (valid power of two, blocks no longer fit): CORRUPT', async () => {
    const path = copy();
    patchU32(path, VHD.headerOffset + VHD.headerBlockSize, 0x80000000);
    fixChecksums(path);
    await rejectsWithCode(openImage(path), 'CORRUPT');
  });

  it('max table entries too small for the size: CORRUPT', async () => {
    const path = copy();
    patchU32(path, VHD.headerOffset + VHD.headerMaxEntries, 7);
    fixChecksums(path);
    const err = await rejectsWithCode(openImage(path), 'CORRUPT');
    assert.equal(err.details.field, 'maxTableEntries');
    assert.equal(err.details.needed, 8);
  });

  it('max table entries 0: CORRUPT', async () => {
    const path = copy();
    patchU32(path, VHD.headerOffset + VHD.headerMaxEntries, 0);
    fixChecksums(path);
    await rejectsWithCode(openImage(path), 'CORRUPT');
  });

  it('max table entries 0xFFFFFFFF on a small file: a bounded CORRUPT (the blocks lie inside the declared BAT)', async () => {
    const path = copy();
    patchU32(path, VHD.headerOffset + VHD.headerMaxEntries, 0xffffffff);
    fixChecksums(path);
    const err = await rejectsWithCode(openImage(path), 'CORRUPT');
    assert.match(err.message, /overlaps the BAT/);
  });

  it('max table entries 0xFFFFFFFF on an empty image: opens, reads zeros, allocates nothing big', async () => {
    const path = join(dir, 'empty.vhd');
    await createPatternVhd(path, { size: 8 * BLOCK, blockSize: BLOCK, blocks: [] });
    patchU32(path, VHD.headerOffset + VHD.headerMaxEntries, 0xffffffff);
    fixChecksums(path);
    const image = await openImage(path);
    try {
      assert.equal(image.virtualSize, 8 * BLOCK);
      assert.ok((await readAll(image)).every((b) => b === 0));
    } finally {
      await image.close();
    }
  });

  it('BAT offset past the end (CORRUPT), unaligned (CORRUPT), past 2^53 (OUT_OF_RANGE)', async () => {
    const cases: [bigint, ErrorCode][] = [
      [BigInt(statSync(pristine.path).size + 4096), 'CORRUPT'],
      [1537n, 'CORRUPT'],
      [1n << 60n, 'OUT_OF_RANGE'],
    ];
    for (const [value, code] of cases) {
      const path = copy();
      patchU64(path, VHD.headerOffset + VHD.headerTableOffset, value);
      fixChecksums(path);
      await rejectsWithCode(openImage(path), code);
    }
  });
});

describe('BAT damage', () => {
  it('the pristine BAT is what the tests expect (blocks 0, 2, 5 at sectors 7, 1039, 2071: data 4 KiB aligned)', () => {
    assert.deepEqual([0, 1, 2, 5].map((i) => batEntry(pristine.path, i)), [7, 0xffffffff, 7 + STRIDE / 512, 7 + 2 * (STRIDE / 512)]);
  });

  it('entry pointing past the end of the file: CORRUPT naming the entry', async () => {
    const path = copy();
    patchU32(path, VHD.batOffset + 4 * 7, statSync(path).size / 512);
    const err = await rejectsWithCode(openImage(path), 'CORRUPT');
    assert.equal(err.details.index, 7);
  });

  it('entry whose block runs into the end footer: CORRUPT', async () => {
    const path = copy();
    patchU32(path, VHD.batOffset + 4 * 7, (statSync(path).size - SPAN) / 512);
    await rejectsWithCode(openImage(path), 'CORRUPT');
  });

  it('entry 0xFFFFFFFE (sector offset near 2^41): CORRUPT', async () => {
    const path = copy();
    patchU32(path, VHD.batOffset + 4, 0xfffffffe);
    await rejectsWithCode(openImage(path), 'CORRUPT');
  });

  it('two entries pointing to the same block: CORRUPT', async () => {
    const path = copy();
    patchU32(path, VHD.batOffset + 4 * 3, batEntry(path, 2));
    const err = await rejectsWithCode(openImage(path), 'CORRUPT');
    assert.match(err.message, /overlapping blocks/);
  });

  it('entry overlapping the next block by one sector: CORRUPT', async () => {
    const path = copy();
    patchU32(path, VHD.batOffset + 4 * 2, batEntry(path, 0) + SPAN / 512 - 1);
    await rejectsWithCode(openImage(path), 'CORRUPT');
  });

  for (const [sector, what] of [[0, 'footer copy|dynamic header'], [1, 'dynamic header'], [3, 'BAT']] as const) {
    it(`entry overlapping the ${what} (sector ${sector}): CORRUPT`, async () => {
      const path = copy();
      patchU32(path, VHD.batOffset + 4 * 6, sector);
      const err = await rejectsWithCode(openImage(path), 'CORRUPT');
      assert.match(err.message, new RegExp(`overlaps the (${what})`));
    });
  }
});
