import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DiskFile } from '../../../src/io/file.js';
import { bitmapBytes, blockCountFor, encodeBat, readBat, validateBlocks, type MetadataRange } from '../../../src/formats/vhd/bat.js';
import { BAT_UNUSED } from '../../../src/formats/vhd/constants.js';
import { decodeDynamicHeader, encodeDynamicHeader, encodeParentName } from '../../../src/formats/vhd/dynamic-header.js';
import { rejectsWithCode, throwsWithCode } from '../../helpers/assert-error.js';
import { tempDir } from '../../helpers/tmp.js';
import { VHD_MAX_BAT_ENTRIES } from '../../../src/limits.js';

const BS = 512 * 1024;
const SPAN = 512 + BS;
const META: MetadataRange[] = [
  { what: 'footer copy', offset: 0, length: 512 },
  { what: 'dynamic header', offset: 512, length: 1024 },
  { what: 'BAT', offset: 1536, length: 512 },
];

describe('bitmapBytes and blockCountFor', () => {
  it('gives one bit a sector rounded up to a whole sector', () => {
    assert.equal(bitmapBytes(512), 512);
    assert.equal(bitmapBytes(512 * 1024), 512);
    assert.equal(bitmapBytes(2 * 1024 * 1024), 512);
    assert.equal(bitmapBytes(4 * 1024 * 1024), 1024);
    assert.equal(bitmapBytes(256 * 1024 * 1024), 65536);
  });

  it('counts partial blocks', () => {
    assert.equal(blockCountFor(0, BS), 0);
    assert.equal(blockCountFor(BS, BS), 1);
    assert.equal(blockCountFor(BS + 512, BS), 2);
  });
});

describe('validateBlocks', () => {
  const bat = (...e: number[]) => Uint32Array.from(e);

  it('accepts unused entries and blocks packed after the metadata', () => {
    validateBlocks(bat(4, BAT_UNUSED, 4 + SPAN / 512, BAT_UNUSED), BS, 2048 + 2 * SPAN, META);
    validateBlocks(bat(BAT_UNUSED, BAT_UNUSED), BS, 0, META);
  });

  it('refuses a block that ends past the data area, naming the entry', () => {
    const err = throwsWithCode(() => validateBlocks(bat(BAT_UNUSED, 4), BS, 2048 + SPAN - 1, META), 'CORRUPT');
    assert.equal(err.details.index, 1);
    assert.equal(err.details.value, 4);
    assert.equal(err.details.limit, 2048 + SPAN - 1);
  });

  it('refuses blocks overlapping the footer copy, header or BAT', () => {
    for (const [sector, what] of [[0, 'footer copy'], [1, 'dynamic header'], [2, 'dynamic header'], [3, 'BAT']] as const) {
      const err = throwsWithCode(() => validateBlocks(bat(sector), BS, 1 << 30, META), 'CORRUPT');
      assert.match(err.message, new RegExp(what), `sector ${sector}`);
    }
  });

  it('refuses two entries pointing to the same or overlapping blocks, in any order', () => {
    throwsWithCode(() => validateBlocks(bat(4, 4), BS, 1 << 30, META), 'CORRUPT');
    throwsWithCode(() => validateBlocks(bat(4 + SPAN / 512, BAT_UNUSED, 4 + SPAN / 512 - 1, 4), BS, 1 << 30, META), 'CORRUPT');
    validateBlocks(bat(4 + 2 * (SPAN / 512), 4, 4 + SPAN / 512), BS, 1 << 30, META);
  });

  it('compares offsets numerically, not as text (sector 10000 vs 9)', () => {
    throwsWithCode(() => validateBlocks(bat(100000, 100000 + 1), BS, 1 << 30, META), 'CORRUPT');
    validateBlocks(bat(100000, 9, 20000), BS, 1 << 30, META);
  });
});

describe('encodeBat', () => {
  it('writes big-endian entries and pads with 0xff', () => {
    const out = encodeBat(Uint32Array.from([4, 0x01020304]), 16);
    assert.deepEqual([...out], [0, 0, 0, 4, 1, 2, 3, 4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  });
});

describe('readBat', () => {
  async function withFile(size: number, fn: (file: DiskFile) => Promise<void>): Promise<void> {
    const path = join(tempDir(), 'bat.bin');
    const bytes = new Uint8Array(size);
    bytes.set(encodeBat(Uint32Array.from([4, BAT_UNUSED, 4 + SPAN / 512]), 512), 1536);
    writeFileSync(path, bytes);
    const file = await DiskFile.open(path);
    try {
      await fn(file);
    } finally {
      await file.close();
    }
  }

  function header(maxTableEntries: number, tableOffset = 1536n) {
    return decodeDynamicHeader(
      encodeDynamicHeader(
        {
          cookie: 'cxsparse',
          dataOffset: 0xffffffffffffffffn,
          tableOffset,
          headerVersion: 0x10000,
          maxTableEntries,
          blockSize: BS,
          checksum: 0,
          parentUniqueId: new Uint8Array(16),
          parentTimestamp: 0,
          parentUnicodeName: encodeParentName(''),
        },
        [],
      ),
      512,
    );
  }

  it('reads only the entries the virtual size needs', async () => {
    await withFile(2048 + 2 * SPAN, async (file) => {
      const bat = await readBat(file, header(8), 3 * BS, 2048 + 2 * SPAN, META);
      assert.deepEqual([...bat], [4, BAT_UNUSED, 4 + SPAN / 512]);
    });
  });

  it('refuses a table with too few entries for the size (CORRUPT)', async () => {
    await withFile(2048 + 2 * SPAN, async (file) => {
      const err = await rejectsWithCode(readBat(file, header(2), 3 * BS, 2048 + 2 * SPAN, META), 'CORRUPT');
      assert.equal(err.details.field, 'maxTableEntries');
      assert.equal(err.details.needed, 3);
    });
  });

  it('refuses more entries than vdisk keeps in memory (UNSUPPORTED), before reading them', async () => {
    await withFile(4096, async (file) => {
      await rejectsWithCode(readBat(file, header(0xffffffff), (VHD_MAX_BAT_ENTRIES + 1) * BS, 4096, META), 'UNSUPPORTED');
    });
  });

  it('refuses a table that runs past the end of the file (CORRUPT)', async () => {
    await withFile(2048 + 2 * SPAN, async (file) => {
      await rejectsWithCode(readBat(file, header(8, BigInt(2048 + 2 * SPAN)), 3 * BS, 2048 + 2 * SPAN, META), 'CORRUPT');
    });
  });
});
