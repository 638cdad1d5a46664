/**
 * Hostile input, part 1: a valid small dynamic VHDX (8 MiB, 1 MiB blocks,
 * blocks 0, 2, 5 written: at 4, 5 and 6 MiB in the file) is damaged on
 * disk; opening must fail with the right DiskImageError code, or read
 * correctly with a warning. Parents: hostile-chain.test.ts; random damage:
 * fuzz.test.ts.
 */
import assert from 'node:assert/strict';
import { copyFileSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { ErrorCode } from '../../../src/errors.js';
import { openImage } from '../../../src/formats/registry.js';
import type { WritableDiskImage } from '../../../src/formats/types.js';
import { BAT_REGION, METADATA_REGION, PayloadState } from '../../../src/formats/vhdx/constants.js';
import { encodeMetadataEntry, metadataEntryOffset } from '../../../src/formats/vhdx/metadata-writer.js';
import { check } from '../../../src/ops/check.js';
import { guidBytes } from '../../../src/util/guid.js';
import { uuidEqual } from '../../../src/util/uuid.js';
import { rejectsWithCode } from '../../helpers/assert-error.js';
import { readAll, same } from '../../helpers/images.js';
import { tempDir } from '../../helpers/tmp.js';
import { openWithWarnings } from '../../helpers/vhd.js';
import { MiB, VHDX, batEntry, createPatternVhdx, headerFields, patchBytes, patchHeader, patchLE, patchMetadataEntry, patchRegions, setBatEntry, type PatternVhdx } from '../../helpers/vhdx.js';

const SIZE = 8 * MiB;
const dir = tempDir();
let pristine: PatternVhdx;
let copies = 0;

before(async () => {
  pristine = await createPatternVhdx(join(dir, 'pristine.vhdx'), { size: SIZE, blockSize: MiB, blocks: [0, 2, 5] });
  assert.deepEqual([0, 2, 5].map((b) => batEntry(pristine.path, b).mb), [4, 5, 6], 'the layout the cases assume');
  assert.equal(statSync(pristine.path).size, 7 * MiB);
});

/** A fresh copy of the pristine image to damage. */
function copy(): string {
  const path = join(dir, `case-${copies++}.vhdx`);
  copyFileSync(pristine.path, path);
  return path;
}

/** Opens, reads everything, and checks it equals the model; returns the warnings. */
async function readsModel(path: string): Promise<string[]> {
  const { image, warnings } = await openWithWarnings(path);
  try {
    assert.ok(same(await readAll(image), pristine.model), 'guest data differs from the model');
  } finally {
    await image.close();
  }
  return warnings;
}

const UNKNOWN = guidBytes('01234567-89AB-CDEF-0123-456789ABCDEF');
const VIRTUAL_SIZE_AT = VHDX.metadataOffset + VHDX.itemOffset(VHDX.entry.virtualDiskSize);
const damageHeader = (path: string, slot: number) => patchBytes(path, VHDX.headerOffsets[slot]! + 100, new Uint8Array([1]));

it('the pristine image reads as its model and checks clean', async () => {
  assert.deepEqual(await readsModel(pristine.path), []);
  assert.deepEqual((await check(pristine.path)).findings, []);
});

describe('damaged files refused', () => {
  const cases: [string, (path: string) => void, ErrorCode | ErrorCode[]][] = [
    ['cut to 4 MiB - 1 (shorter than any VHDX)', (p) => truncateSync(p, 4 * MiB - 1), 'INVALID_FORMAT'],
    ['cut to 1 MiB', (p) => truncateSync(p, MiB), 'INVALID_FORMAT'],
    ['cut inside the first block', (p) => truncateSync(p, 4 * MiB + 1000), 'CORRUPT'],
    ['cut inside the last block', (p) => truncateSync(p, 7 * MiB - 4096), 'CORRUPT'],
    ['both headers damaged', (p) => [0, 1].forEach((s) => damageHeader(p, s)), 'CORRUPT'],
    ['both region tables damaged', (p) => VHDX.regionTableOffsets.forEach((o) => patchBytes(p, o + 60000, new Uint8Array([1]))), 'CORRUPT'],
    ['overlapping regions (metadata grown over the BAT)', (p) => patchRegions(p, (rs) => rs.map((r) => (uuidEqual(r.guid, METADATA_REGION) ? { ...r, length: 2 * MiB } : r))), 'CORRUPT'],
    ['the BAT region past the end of the file', (p) => patchRegions(p, (rs) => rs.map((r) => (uuidEqual(r.guid, BAT_REGION) ? { ...r, offset: 64 * MiB } : r))), 'CORRUPT'],
    ['a region not 1 MiB aligned', (p) => patchRegions(p, (rs) => rs.map((r) => (uuidEqual(r.guid, BAT_REGION) ? { ...r, offset: 3 * MiB + 4096 } : r))), 'CORRUPT'],
    ['an unknown required region', (p) => patchRegions(p, (rs) => [...rs, { guid: UNKNOWN, offset: 6 * MiB, length: MiB, required: true }]), 'UNSUPPORTED'],
    ['no metadata region', (p) => patchRegions(p, (rs) => rs.filter((r) => uuidEqual(r.guid, BAT_REGION))), 'CORRUPT'],
    ['a BAT entry past the end of the file', (p) => setBatEntry(p, 2, PayloadState.fullyPresent, 100), 'CORRUPT'],
    ['a BAT entry at 2^44 - 1 MiB', (p) => setBatEntry(p, 2, PayloadState.fullyPresent, 2 ** 44 - 1), 'CORRUPT'],
    ['two BAT entries at one offset', (p) => setBatEntry(p, 5, PayloadState.fullyPresent, 4), 'CORRUPT'],
    ['a block over the metadata region', (p) => setBatEntry(p, 2, PayloadState.fullyPresent, 2), 'CORRUPT'],
    ['a block over the BAT region', (p) => setBatEntry(p, 2, PayloadState.fullyPresent, 3), 'CORRUPT'],
    ['a block over the log', (p) => setBatEntry(p, 2, PayloadState.fullyPresent, 1), 'CORRUPT'],
    ['a present block at offset 0 (the headers)', (p) => setBatEntry(p, 2, PayloadState.fullyPresent, 0), 'CORRUPT'],
    ['block state 4', (p) => setBatEntry(p, 2, 4, 5), 'CORRUPT'],
    ['block state 5', (p) => setBatEntry(p, 3, 5, 0), 'CORRUPT'],
    ['a partially present block in a disk without a parent', (p) => setBatEntry(p, 2, PayloadState.partiallyPresent, 5), 'CORRUPT'],
    ['the file parameters item 16 bytes long', (p) => patchMetadataEntry(p, VHDX.entry.fileParameters, { length: 16 }), 'CORRUPT'],
    ['the virtual disk size item 4 bytes long', (p) => patchMetadataEntry(p, VHDX.entry.virtualDiskSize, { length: 4 }), 'CORRUPT'],
    ['a metadata item outside the region', (p) => patchMetadataEntry(p, VHDX.entry.page83Data, { offset: VHDX.metadataLength - 8 }), 'CORRUPT'],
    ['a metadata item inside the table', (p) => patchMetadataEntry(p, VHDX.entry.logicalSectorSize, { offset: 32 }), 'CORRUPT'],
    ['the metadata signature gone', (p) => patchBytes(p, VHDX.metadataOffset, Buffer.from('METADATA')), 'CORRUPT'],
    ['an unknown required metadata item', (p) => {
      patchBytes(p, VHDX.metadataOffset + metadataEntryOffset(5), encodeMetadataEntry(UNKNOWN, VHDX.itemOffset(8), 8, 4));
      patchLE(p, VHDX.metadataOffset + 10, 2, 6);
    }, 'UNSUPPORTED'],
    ['virtual size 2^62', (p) => patchLE(p, VIRTUAL_SIZE_AT, 8, 2n ** 62n), ['OUT_OF_RANGE', 'CORRUPT']],
    ['virtual size 2^50 (past 64 TiB)', (p) => patchLE(p, VIRTUAL_SIZE_AT, 8, 2 ** 50), 'CORRUPT'],
    ['virtual size 100 bytes (not whole sectors)', (p) => patchLE(p, VIRTUAL_SIZE_AT, 8, 100), 'CORRUPT'],
    ['virtual size 64 TiB at 1 MiB blocks (a BAT of 64 Mi entries)', (p) => patchLE(p, VIRTUAL_SIZE_AT, 8, 64 * 1024 ** 4), 'UNSUPPORTED'],
    ['virtual size 200 GiB (more entries than the 1 MiB BAT region holds)', (p) => patchLE(p, VIRTUAL_SIZE_AT, 8, 200 * 1024 ** 3), 'CORRUPT'],
    ['block size 2 MiB (blocks now overlap)', (p) => patchLE(p, VHDX.metadataOffset + VHDX.itemOffset(0), 4, 2 * MiB), 'CORRUPT'],
    ['block size 3 MiB', (p) => patchLE(p, VHDX.metadataOffset + VHDX.itemOffset(0), 4, 3 * MiB), 'CORRUPT'],
    ['logical sector size 520', (p) => patchLE(p, VHDX.metadataOffset + VHDX.itemOffset(3), 4, 520), 'CORRUPT'],
    ['the has-parent flag on a disk without a locator', (p) => patchLE(p, VHDX.metadataOffset + VHDX.itemOffset(0) + 4, 4, 2), 'CORRUPT'],
    ['a log region over the metadata region', (p) => [0, 1].forEach((s) => patchHeader(p, s, (f) => ({ ...f, logOffset: BigInt(2 * MiB) }))), 'CORRUPT'],
    ['a header log offset past 2^53', (p) => [0, 1].forEach((s) => patchHeader(p, s, (f) => ({ ...f, logOffset: 2n ** 60n }))), ['OUT_OF_RANGE', 'CORRUPT']],
  ];
  for (const [name, damage, code] of cases) {
    it(`${name}: ${Array.isArray(code) ? code.join(' or ') : code}`, async () => {
      const path = copy();
      damage(path);
      await rejectsWithCode(openImage(path), code);
      await rejectsWithCode(openImage(path, { format: 'vhdx' }), code);
      await rejectsWithCode(openImage(path, { format: 'vhdx', writable: true }), code);
    });
  }
});

describe('damage vdisk reads through with a warning', () => {
  for (const slot of [0, 1]) {
    it(`header ${slot + 1} damaged: reads with a warning; check reports HEADER_DAMAGED; a write session rewrites that slot`, async () => {
      const path = copy();
      damageHeader(path, slot);
      const warnings = await readsModel(path);
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!, new RegExp(`header ${slot + 1} is damaged`));
      const report = await check(path);
      assert.equal(report.result, 'corruption');
      assert.deepEqual(report.findings.map((f) => f.code), ['HEADER_DAMAGED']);
      assert.match(report.findings[0]!.message, new RegExp(`header ${slot + 1}`));

      const w = (await openImage(path, { writable: true, onWarning: () => undefined })) as WritableDiskImage;
      await w.writeAt(new Uint8Array(512).fill(0x42), 7 * MiB);
      await w.flush();
      await w.close();
      assert.ok(headerFields(path, slot), 'the damaged slot was the non-current one and got the new header');
      assert.equal((await check(path)).result, 'clean');
    });
  }

  it('the header with the higher sequence number damaged: the older one is used', async () => {
    const path = copy();
    const higher = headerFields(path, 0)!.sequenceNumber > headerFields(path, 1)!.sequenceNumber ? 0 : 1;
    damageHeader(path, higher);
    const { image } = await openWithWarnings(path);
    try {
      assert.equal(image.describe().formatSpecific!.headerSequenceNumber, String(headerFields(path, 1 - higher)!.sequenceNumber));
    } finally {
      await image.close();
    }
  });

  for (const slot of [0, 1]) {
    it(`region table ${slot + 1} damaged: reads with a warning for table 1; check reports REGION_TABLE_DAMAGED`, async () => {
      const path = copy();
      patchBytes(path, VHDX.regionTableOffsets[slot]! + 20, new Uint8Array([0xff]));
      const warnings = await readsModel(path);
      assert.equal(warnings.length, slot === 0 ? 1 : 0, JSON.stringify(warnings));
      const report = await check(path);
      assert.deepEqual(report.findings.map((f) => f.code), ['REGION_TABLE_DAMAGED']);
    });
  }

  it('an unknown optional region (where it overlaps nothing) and an unknown optional metadata item are ignored', async () => {
    const path = copy();
    patchRegions(path, (rs) => [...rs, { guid: UNKNOWN, offset: 6 * MiB, length: MiB, required: false }]);
    patchBytes(path, VHDX.metadataOffset + metadataEntryOffset(5), encodeMetadataEntry(UNKNOWN, VHDX.itemOffset(8), 8, 0));
    patchLE(path, VHDX.metadataOffset + 10, 2, 6);
    await rejectsWithCode(openImage(path), 'CORRUPT');
    patchRegions(path, (rs) => rs.map((r) => (uuidEqual(r.guid, UNKNOWN) ? { ...r, offset: 16 * MiB } : r)));
    truncateSync(path, 17 * MiB);
    assert.deepEqual(await readsModel(path), []);
  });
});

// Regression: the log region was once checked only when LogGuid was set, so a header could
// place an empty log anywhere and the writer then allocated blocks after it (a 64 GiB file).
describe('an empty log region the header places past the end of the file', () => {
  it('is refused (CORRUPT) or ignored: a write then grows the file by one block, not to 64 GiB', async () => {
    const path = copy();
    for (const s of [0, 1]) patchHeader(path, s, (f) => ({ ...f, logOffset: BigInt(64 * 1024 * MiB) }));
    let image: WritableDiskImage;
    try {
      image = (await openImage(path, { writable: true })) as WritableDiskImage;
    } catch (err) {
      await rejectsWithCode(Promise.reject(err), 'CORRUPT');
      return;
    }
    try {
      await image.writeAt(new Uint8Array(4096).fill(1), 3 * MiB);
      await image.flush();
    } finally {
      await image.close();
    }
    const size = statSync(path).size;
    assert.ok(size <= 8 * MiB, `the file grew to ${size} bytes for one new 1 MiB block`);
  });
});
