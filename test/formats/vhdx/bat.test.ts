/**
 * VHDX structures, part 3: the BAT (2.5) — geometry (chunk ratio, entry
 * counts, where payload and sector bitmap entries sit), the 8-byte entry
 * encoding (offsets past 4 GiB), and readBat's checks, over files in memory.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ErrorCode } from '../../../src/errors.js';
import { encodeBatEntry, readBat } from '../../../src/formats/vhdx/bat.js';
import { batGeometry, bitmapEntryIndex, payloadEntryIndex, type BatGeometry, type Reserved } from '../../../src/formats/vhdx/bat-geometry.js';
import { BAT_REGION, PayloadState } from '../../../src/formats/vhdx/constants.js';
import type { Region } from '../../../src/formats/vhdx/region-table.js';
import { rejectsWithCode } from '../../helpers/assert-error.js';
import { MemoryFile, MiB } from '../../helpers/vhdx.js';
import { VHDX_MAX_BAT_ENTRIES } from '../../../src/limits.js';

const GiB = 1024 * MiB;

describe('BAT geometry (2.5)', () => {
  it('chunk ratio = 2^23 x logical sector / block size', () => {
    assert.equal(batGeometry(GiB, MiB, 512, false).chunkRatio, 4096);
    assert.equal(batGeometry(GiB, 32 * MiB, 512, false).chunkRatio, 128);
    assert.equal(batGeometry(GiB, MiB, 4096, false).chunkRatio, 32768);
    assert.equal(batGeometry(GiB, 32 * MiB, 4096, false).chunkRatio, 1024);
    assert.equal(batGeometry(GiB, 256 * MiB, 512, false).chunkRatio, 16);
  });

  const counts: [string, number, number, number, number, number][] = [
    // name, virtual size, block size, logical sector, entries (no parent), entries (differencing)
    ['200 blocks of 32 MiB', 200 * 32 * MiB, 32 * MiB, 512, 201, 258],
    ['exactly one chunk (128 blocks)', 128 * 32 * MiB, 32 * MiB, 512, 128, 129],
    ['one chunk and one block', 129 * 32 * MiB, 32 * MiB, 512, 130, 258],
    ['3 blocks and a sector (partial last block)', 3 * 32 * MiB + 512, 32 * MiB, 512, 4, 129],
    ['10 GiB at 1 MiB', 10 * GiB, MiB, 512, 10242, 12291],
    ['64 GiB at 1 MiB, 4096-byte sectors', 64 * GiB, MiB, 4096, 65537, 65538],
    ['one sector', 512, MiB, 512, 1, 4097],
  ];
  for (const [name, size, bs, logical, plain, diff] of counts) {
    it(`total entries: ${name}`, () => {
      assert.equal(batGeometry(size, bs, logical, false).totalEntries, plain, 'no parent: payload + floor((payload - 1) / ratio)');
      assert.equal(batGeometry(size, bs, logical, true).totalEntries, diff, 'differencing: bitmap blocks x (ratio + 1)');
    });
  }

  it('payload and bitmap entries interleave: ratio payload entries, then the chunk bitmap entry', () => {
    const g = batGeometry(300 * 32 * MiB, 32 * MiB, 512, true);
    assert.deepEqual([0, 1, 127, 128, 255, 256, 299].map((b) => payloadEntryIndex(g, b)), [0, 1, 127, 129, 256, 258, 301]);
    assert.deepEqual([0, 1, 2].map((c) => bitmapEntryIndex(g, c)), [128, 257, 386]);
    assert.equal(g.payloadBlocks, 300);
    assert.equal(g.bitmapBlocks, 3);
  });

  it('every payload and bitmap entry has its own index inside the BAT (differencing and not)', () => {
    for (const [size, bs, logical] of [[1000 * MiB + 512, MiB, 512], [70 * GiB, 32 * MiB, 512], [9 * GiB, MiB, 4096]] as const) {
      for (const hasParent of [false, true]) {
        const g: BatGeometry = batGeometry(size, bs, logical, hasParent);
        const seen = new Set<number>();
        for (let b = 0; b < g.payloadBlocks; b++) seen.add(payloadEntryIndex(g, b));
        assert.equal(seen.size, g.payloadBlocks);
        assert.ok(Math.max(...seen) < g.totalEntries);
        for (let c = 0; c < g.bitmapBlocks; c++) {
          const i = bitmapEntryIndex(g, c);
          assert.ok(!seen.has(i), `bitmap entry ${c} collides with a payload entry`);
          if (hasParent) assert.ok(i < g.totalEntries, `bitmap entry ${c} inside a differencing BAT`);
        }
      }
    }
  });
});

describe('BAT entries (2.5.1)', () => {
  /** Decodes an entry by the spec: state in bits 0-2, FileOffsetMB in bits 20-63. */
  const decode = (e: Uint8Array) => {
    const v = Buffer.from(e).readBigUInt64LE();
    return { state: Number(v & 7n), reserved: Number((v >> 3n) & 0x1ffffn), mb: Number(v >> 20n) };
  };

  it('encode puts the state in bits 0-2 and the offset in MiB in bits 20-63, past 4 GiB too', () => {
    for (const mb of [0, 1, 3, 4095, 4096, 4097, 5 * 1024, 3 * 4096 + 7, 2 ** 32, 2 ** 44 - 1]) {
      for (const state of [PayloadState.fullyPresent, PayloadState.partiallyPresent, PayloadState.zero, 0]) {
        assert.deepEqual(decode(encodeBatEntry(state, mb)), { state, reserved: 0, mb }, `state ${state}, ${mb} MiB`);
      }
    }
    assert.equal(Buffer.from(encodeBatEntry(6, 4096)).toString('hex'), '0600000001000000', '4 GiB: the high word holds 1');
  });
});

/** A BAT region at 1 MiB of a "file" claiming `size` bytes (only the first 2 MiB held). */
function batFile(entries: [number, number, number][], size = 2 ** 44): { file: MemoryFile; region: Region } {
  const bytes = new Uint8Array(2 * MiB);
  for (const [index, state, mb] of entries) bytes.set(encodeBatEntry(state, mb), MiB + index * 8);
  return { file: new MemoryFile(bytes, size), region: { guid: BAT_REGION, offset: MiB, length: MiB, required: true } };
}

const HEADERS: Reserved[] = [{ what: 'headers', offset: 0, length: MiB }, { what: 'BAT region', offset: MiB, length: MiB }];

describe('readBat', () => {
  const plain = batGeometry(8 * 32 * MiB, 32 * MiB, 512, false);
  const diff = batGeometry(8 * 32 * MiB, 32 * MiB, 512, true);
  const { fullyPresent: FULL, partiallyPresent: PARTIAL, zero: ZERO, unmapped: UNMAPPED, undefined: UNDEF } = PayloadState;

  it('decodes states and offsets, blocks past 4 GiB and 4 TiB included', async () => {
    const { file, region } = batFile([[0, FULL, 5 * 1024], [1, ZERO, 0], [2, FULL, 3 * 4096 + 7], [3, UNMAPPED, 0], [4, UNDEF, 0], [5, FULL, 4 * 1024 * 1024 + 32]]);
    const bat = await readBat(file, region, plain, false, HEADERS);
    assert.deepEqual([...bat.states], [FULL, ZERO, FULL, UNMAPPED, UNDEF, FULL, 0, 0]);
    assert.deepEqual([...bat.offsetsMb], [5 * 1024, 0, 3 * 4096 + 7, 0, 0, 4 * 1024 * 1024 + 32, 0, 0]);
  });

  it('a differencing BAT: partially present blocks with their chunk bitmap', async () => {
    const { file, region } = batFile([[0, PARTIAL, 2], [3, FULL, 34], [bitmapEntryIndex(diff, 0), 6, 66]]);
    const bat = await readBat(file, region, diff, true, HEADERS);
    assert.deepEqual([...bat.states.subarray(0, 4)], [PARTIAL, 0, 0, FULL]);
    assert.deepEqual([...bat.bitmapMb], [66]);
  });

  const bad: [string, BatGeometry, boolean, [number, number, number][], ErrorCode, number?][] = [
    ['block state 4', plain, false, [[2, 4, 0]], 'CORRUPT'],
    ['block state 5', plain, false, [[2, 5, 0]], 'CORRUPT'],
    ['partially present without a parent', plain, false, [[0, PARTIAL, 2]], 'CORRUPT'],
    ['partially present without a chunk bitmap', diff, true, [[0, PARTIAL, 2]], 'CORRUPT'],
    ['a present block at offset 0', plain, false, [[0, FULL, 0]], 'CORRUPT'],
    ['a block over the BAT region (at 1 MiB)', plain, false, [[0, FULL, 1]], 'CORRUPT'],
    ['a block past the end of the file', plain, false, [[0, FULL, 100]], 'CORRUPT', 100 * MiB],
    ['a block running past the end of the file', plain, false, [[0, FULL, 100]], 'CORRUPT', 131 * MiB],
    ['two blocks at one offset', plain, false, [[0, FULL, 2], [7, FULL, 2]], 'CORRUPT'],
    ['two blocks overlapping by 1 MiB', plain, false, [[0, FULL, 2], [1, FULL, 33]], 'CORRUPT'],
    ['a bitmap block inside a payload block', diff, true, [[0, FULL, 2], [bitmapEntryIndex(diff, 0), 6, 10]], 'CORRUPT'],
    ['a sector bitmap entry in state 1', diff, true, [[bitmapEntryIndex(diff, 0), 1, 40]], 'CORRUPT'],
    ['a block offset of 2^44 - 1 MiB', plain, false, [[0, FULL, 2 ** 44 - 1]], 'CORRUPT'],
  ];
  for (const [name, g, hasParent, entries, code, size] of bad) {
    it(`${name}: ${code}`, async () => {
      const { file, region } = batFile(entries, size);
      await rejectsWithCode(readBat(file, region, g, hasParent, HEADERS), code);
    });
  }

  it('a block may end exactly at the end of the file', async () => {
    const { file, region } = batFile([[0, FULL, 2]], 2 * MiB + 32 * MiB);
    assert.equal((await readBat(file, region, plain, false, HEADERS)).offsetsMb[0], 2);
  });

  it('a block overlapping a reserved range (the metadata region) is CORRUPT and says so', async () => {
    const { file, region } = batFile([[3, FULL, 40]]);
    const err = await rejectsWithCode(readBat(file, region, plain, false, [...HEADERS, { what: 'metadata region', offset: 50 * MiB, length: MiB }]), 'CORRUPT');
    assert.match(err.message, /overlaps/);
  });

  it('a BAT of several pages is read a page at a time, entries on both sides of each page boundary decoded', async () => {
    const g = batGeometry(300_000 * MiB, MiB, 512, true);
    assert.ok(g.totalEntries * 8 > 2 * MiB, 'the table spans more than two 1 MiB pages');
    const bytes = new Uint8Array(MiB + g.totalEntries * 8);
    // Payload blocks next to page boundaries (entries 131071/131072 and 262143/262144), each chunk's sector bitmap present.
    const blocks = [0, 131_040, 131_041, 262_080, 262_081, 299_999];
    blocks.forEach((b, k) => bytes.set(encodeBatEntry(FULL, 2 ** 20 + k * 8), MiB + payloadEntryIndex(g, b) * 8));
    for (let c = 0; c < g.bitmapBlocks; c++) bytes.set(encodeBatEntry(6, 2 ** 21 + c), MiB + bitmapEntryIndex(g, c) * 8);
    const reads: number[] = [];
    const file = new MemoryFile(bytes, 2 ** 44);
    const read = file.read.bind(file);
    file.read = (buf, offset) => (reads.push(buf.length), read(buf, offset));
    const bat = await readBat(file, { guid: BAT_REGION, offset: MiB, length: g.totalEntries * 8, required: true }, g, true, HEADERS);
    assert.ok(reads.length >= 3 && reads.every((n) => n <= MiB), `reads of ${reads.join(', ')} bytes`);
    assert.deepEqual(blocks.map((b) => bat.offsetsMb[b]), blocks.map((_, k) => 2 ** 20 + k * 8));
    assert.equal(bat.states.reduce((n, s) => n + (s === FULL ? 1 : 0), 0), blocks.length);
    assert.deepEqual([...bat.bitmapMb], Array.from({ length: g.bitmapBlocks }, (_, c) => 2 ** 21 + c));
  });

  it('more than 4 Mi entries is UNSUPPORTED before anything is read or allocated', async () => {
    const huge = batGeometry(64 * 1024 * GiB, MiB, 512, false);
    assert.ok(huge.totalEntries > VHDX_MAX_BAT_ENTRIES);
    const file = new MemoryFile(new Uint8Array(0), 2 ** 50);
    const err = await rejectsWithCode(readBat(file, { guid: BAT_REGION, offset: MiB, length: 2 ** 32 - MiB, required: true }, huge, false, HEADERS), 'UNSUPPORTED');
    assert.equal(err.details.value, huge.totalEntries);
  });

  it('a BAT region too small for the entries is CORRUPT', async () => {
    const g = batGeometry(200 * GiB, MiB, 512, false);
    const { file } = batFile([]);
    await rejectsWithCode(readBat(file, { guid: BAT_REGION, offset: MiB, length: MiB, required: true }, g, false, HEADERS), 'CORRUPT');
  });
});
