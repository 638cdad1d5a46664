/**
 * VHDX structures, part 2: the metadata table and its items (2.6) and the
 * parent locator item (2.6.2.6), read from regions built in memory.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ErrorCode } from '../../../src/errors.js';
import { Item, METADATA_REGION, MiB, VHDX_LOCATOR_TYPE } from '../../../src/formats/vhdx/constants.js';
import { decodeMetadataTable, readMetadata } from '../../../src/formats/vhdx/metadata.js';
import { encodeMetadataEntry, encodeMetadataRegion, metadataEntryOffset, type NewMetadata } from '../../../src/formats/vhdx/metadata-writer.js';
import { decodeParentLocator, encodeParentLocator, vhdxParentCandidates } from '../../../src/formats/vhdx/parent-locator.js';
import type { Region } from '../../../src/formats/vhdx/region-table.js';
import { formatGuid, guidBytes } from '../../../src/util/guid.js';
import { rejectsWithCode, throwsWithCode } from '../../helpers/assert-error.js';
import { MemoryFile, VHDX } from '../../helpers/vhdx.js';

const REGION: Region = { guid: METADATA_REGION, offset: 0, length: MiB, required: true };
const DISK_ID = guidBytes('A1B2C3D4-0001-0002-0003-000000000004');
const UNKNOWN = guidBytes('01234567-89AB-CDEF-0123-456789ABCDEF');

const BASE: NewMetadata = { blockSize: 32 * MiB, leaveBlocksAllocated: false, virtualSize: 10 * 1024 * MiB + 512, diskId: DISK_ID, logicalSectorSize: 512, physicalSectorSize: 4096 };

/** A metadata region as vdisk writes it, then changed by `patch` (a Buffer over the region). */
function regionBytes(m: Partial<NewMetadata> = {}, patch?: (b: Buffer) => void): Buffer {
  const b = Buffer.from(encodeMetadataRegion({ ...BASE, ...m }, MiB));
  patch?.(b);
  return b;
}

const readFrom = (b: Uint8Array) => readMetadata(new MemoryFile(b), REGION);

/** Offset in the region of item `i`'s data (vdisk's layout). */
const item = (i: number) => VHDX.itemOffset(i);
/** Offset in the region of table entry `i`. */
const entry = (i: number) => metadataEntryOffset(i);

describe('metadata region as vdisk writes it', () => {
  it('has the table header, one entry per item, and 4 KiB aligned items from 64 KiB', () => {
    const b = regionBytes();
    assert.equal(b.toString('latin1', 0, 8), 'metadata');
    assert.equal(b.readUInt16LE(10), 5, 'entry count');
    const ids = [Item.fileParameters, Item.virtualDiskSize, Item.page83Data, Item.logicalSectorSize, Item.physicalSectorSize];
    const sizes = [8, 8, 16, 4, 4];
    ids.forEach((id, i) => {
      assert.equal(formatGuid(b.subarray(entry(i), entry(i) + 16)), formatGuid(id));
      assert.equal(b.readUInt32LE(entry(i) + 16), item(i), `offset of item ${i}`);
      assert.equal(b.readUInt32LE(entry(i) + 20), sizes[i], `length of item ${i}`);
      assert.ok(b.readUInt32LE(entry(i) + 24) & 4, `item ${i} is required`);
    });
    assert.equal(b.readUInt32LE(item(0)), 32 * MiB, 'block size');
    assert.equal(b.readBigUInt64LE(item(1)), BigInt(BASE.virtualSize));
  });

  it('reads back what was written, fixed and differencing', async () => {
    const m = await readFrom(regionBytes());
    assert.deepEqual({ ...m, diskId: formatGuid(m.diskId) }, {
      blockSize: 32 * MiB,
      leaveBlocksAllocated: false,
      hasParent: false,
      virtualSize: BASE.virtualSize,
      diskId: formatGuid(DISK_ID),
      logicalSectorSize: 512,
      physicalSectorSize: 4096,
      parentLocator: undefined,
    });
    const fixed = await readFrom(regionBytes({ leaveBlocksAllocated: true, logicalSectorSize: 4096, virtualSize: 4096 * 3 }));
    assert.equal(fixed.leaveBlocksAllocated, true);
    assert.equal(fixed.logicalSectorSize, 4096);
    const diff = await readFrom(regionBytes({ parentLocator: [['parent_linkage', '{x}'], ['relative_path', '.\\b.vhdx']] }));
    assert.equal(diff.hasParent, true);
    assert.deepEqual([...diff.parentLocator!], [['parent_linkage', '{x}'], ['relative_path', '.\\b.vhdx']]);
  });

  it('block sizes 1 MiB and 256 MiB and a size of one logical sector are accepted', async () => {
    assert.equal((await readFrom(regionBytes({ blockSize: MiB }))).blockSize, MiB);
    assert.equal((await readFrom(regionBytes({ blockSize: 256 * MiB }))).blockSize, 256 * MiB);
    assert.equal((await readFrom(regionBytes({ virtualSize: 512 }))).virtualSize, 512);
    assert.equal((await readFrom(regionBytes({ virtualSize: 64 * 1024 ** 4 }))).virtualSize, 64 * 1024 ** 4, '64 TiB');
  });
});

describe('metadata items refused', () => {
  const cases: [string, Buffer, ErrorCode | ErrorCode[]][] = [
    ['block size 3 MiB (not a power of two)', regionBytes({ blockSize: 3 * MiB }), 'CORRUPT'],
    ['block size 512 KiB (below 1 MiB)', regionBytes({ blockSize: MiB / 2 }), 'CORRUPT'],
    ['block size 512 MiB (above 256 MiB)', regionBytes({ blockSize: 512 * MiB }), 'CORRUPT'],
    ['block size 0', regionBytes({ blockSize: 0 }), 'CORRUPT'],
    ['virtual size not a multiple of the 4096-byte logical sector', regionBytes({ logicalSectorSize: 4096, virtualSize: 4096 * 10 + 512 }), 'CORRUPT'],
    ['virtual size not a multiple of 512', regionBytes({ virtualSize: 1000 }), 'CORRUPT'],
    ['virtual size 0', regionBytes({ virtualSize: 0 }), 'CORRUPT'],
    ['virtual size 64 TiB + 512 bytes', regionBytes({ virtualSize: 64 * 1024 ** 4 + 512 }), 'CORRUPT'],
    ['virtual size 2^62 (past 2^53)', regionBytes({}, (b) => b.writeBigUInt64LE(2n ** 62n, item(1))), ['OUT_OF_RANGE', 'CORRUPT']],
    ['logical sector 520', regionBytes({ logicalSectorSize: 520, virtualSize: 520 * 100 }), 'CORRUPT'],
    ['physical sector 520', regionBytes({ physicalSectorSize: 520 }), 'CORRUPT'],
    ['logical sector 0', regionBytes({ logicalSectorSize: 0 }), 'CORRUPT'],
    ['file parameters 7 bytes long', regionBytes({}, (b) => b.writeUInt32LE(7, entry(0) + 20)), 'CORRUPT'],
    ['virtual disk size 16 bytes long', regionBytes({}, (b) => b.writeUInt32LE(16, entry(1) + 20)), 'CORRUPT'],
    ['page 83 data 0 bytes long', regionBytes({}, (b) => b.writeUInt32LE(0, entry(2) + 20)), 'CORRUPT'],
    ['logical sector size 2 bytes long', regionBytes({}, (b) => b.writeUInt32LE(2, entry(3) + 20)), 'CORRUPT'],
    ['an item past the end of the region', regionBytes({}, (b) => b.writeUInt32LE(MiB - 4, entry(1) + 16)), 'CORRUPT'],
    ['an item at 2^32 - 4 (offset + length past a u32)', regionBytes({}, (b) => b.writeUInt32LE(2 ** 32 - 4, entry(1) + 16)), 'CORRUPT'],
    ['an item inside the table (offset below 64 KiB)', regionBytes({}, (b) => b.writeUInt32LE(4096, entry(1) + 16)), 'CORRUPT'],
    ['the virtual disk size item missing', regionBytes({}, (b) => b.fill(0, entry(1), entry(1) + 32)), 'CORRUPT'],
    ['no "metadata" signature', regionBytes({}, (b) => b.write('METADATA', 0, 'latin1')), 'CORRUPT'],
    ['2048 table entries', regionBytes({}, (b) => b.writeUInt16LE(2048, 10)), 'CORRUPT'],
    ['a differencing disk without a parent locator item', regionBytes({}, (b) => b.writeUInt32LE(2, item(0) + 4)), 'CORRUPT'],
    ['a parent locator of 64 KiB + 1', regionBytes({ parentLocator: [['k', 'v']] }, (b) => b.writeUInt32LE(64 * 1024 + 1, entry(5) + 20)), 'CORRUPT'],
  ];
  for (const [name, bytes, code] of cases) {
    it(`${name}: ${Array.isArray(code) ? code.join(' or ') : code}`, async () => {
      await rejectsWithCode(readFrom(bytes), code);
    });
  }

  it('an unknown item is ignored unless it is marked required (UNSUPPORTED, named)', async () => {
    const withUnknown = regionBytes({}, (b) => {
      b.set(encodeMetadataEntry(UNKNOWN, item(8), 16, 0), entry(5));
      b.writeUInt16LE(6, 10);
    });
    assert.equal((await readFrom(withUnknown)).blockSize, 32 * MiB, 'an unknown optional item is ignored');
    const required = regionBytes({}, (b) => {
      b.set(encodeMetadataEntry(UNKNOWN, item(8), 16, 4), entry(5));
      b.writeUInt16LE(6, 10);
    });
    const err = await rejectsWithCode(readFrom(required), 'UNSUPPORTED');
    assert.match(err.message, /01234567-89ab-cdef-0123-456789abcdef/);
  });

  it('decodeMetadataTable names the item that lies outside the region', () => {
    const b = regionBytes({}, (x) => x.writeUInt32LE(MiB, entry(2) + 16));
    const err = throwsWithCode(() => decodeMetadataTable(b, REGION), 'CORRUPT');
    assert.equal(err.details.item, formatGuid(Item.page83Data));
    assert.equal(err.details.offset, MiB);
  });
});

describe('parent locator item (2.6.2.6)', () => {
  const PAIRS: [string, string][] = [
    ['parent_linkage', '{2dc27766-f623-4200-9d64-115e9bfd4a08}'],
    ['relative_path', '.\\sub dir\\pä rent €.vhdx'],
    ['absolute_win32_path', 'C:\\VMs\\𝄞 music.vhdx'],
    ['empty', ''],
  ];

  it('encodes the locator type, the count and UTF-16LE keys and values at the offsets its entries give', () => {
    const b = Buffer.from(encodeParentLocator(PAIRS));
    assert.deepEqual(b.subarray(0, 16), Buffer.from(VHDX_LOCATOR_TYPE));
    assert.equal(b.readUInt16LE(16), 0, 'reserved');
    assert.equal(b.readUInt16LE(18), PAIRS.length);
    PAIRS.forEach(([k, v], i) => {
      const at = 20 + 12 * i;
      const [ko, vo, kl, vl] = [b.readUInt32LE(at), b.readUInt32LE(at + 4), b.readUInt16LE(at + 8), b.readUInt16LE(at + 10)];
      assert.equal(b.toString('utf16le', ko, ko + kl), k);
      assert.equal(b.toString('utf16le', vo, vo + vl), v);
      assert.equal(kl, Buffer.byteLength(k, 'utf16le'));
      assert.equal(vl, Buffer.byteLength(v, 'utf16le'), `value of ${k} (surrogate pairs count twice)`);
    });
  });

  it('decodes what it encodes, also from a view at an odd offset', () => {
    assert.deepEqual([...decodeParentLocator(encodeParentLocator(PAIRS))], PAIRS);
    const enc = encodeParentLocator(PAIRS);
    const shifted = new Uint8Array(enc.length + 3);
    shifted.set(enc, 3);
    assert.deepEqual([...decodeParentLocator(shifted.subarray(3))], PAIRS);
    assert.deepEqual([...decodeParentLocator(encodeParentLocator([]))], []);
  });

  /** A two-pair locator changed by `patch`. */
  const damaged = (patch: (b: Buffer) => void): Buffer => {
    const b = Buffer.from(encodeParentLocator([['parent_linkage', '{x}'], ['relative_path', '.\\p.vhdx']]));
    patch(b);
    return b;
  };
  const bad: [string, Uint8Array, ErrorCode][] = [
    ['19 bytes', new Uint8Array(19), 'CORRUPT'],
    ['another locator type', damaged((b) => (b[0]! ^= 1)), 'UNSUPPORTED'],
    ['a count of 300 with room for them', (() => {
      const b = Buffer.alloc(20 + 300 * 12);
      b.set(VHDX_LOCATOR_TYPE);
      b.writeUInt16LE(300, 18);
      return b;
    })(), 'CORRUPT'],
    ['a count larger than the item holds', damaged((b) => b.writeUInt16LE(50, 18)), 'CORRUPT'],
    ['a key offset past the end', damaged((b) => b.writeUInt32LE(b.length, 20)), 'CORRUPT'],
    ['a value offset of 2^32 - 1', damaged((b) => b.writeUInt32LE(0xffffffff, 24)), 'CORRUPT'],
    ['a value running past the end', damaged((b) => b.writeUInt16LE(0xfffe, 30)), 'CORRUPT'],
    ['an odd key length', damaged((b) => b.writeUInt16LE(b.readUInt16LE(28) - 1, 28)), 'CORRUPT'],
    ['an odd value length', damaged((b) => b.writeUInt16LE(b.readUInt16LE(42) - 1, 42)), 'CORRUPT'],
    ['an unpaired high surrogate in a value', damaged((b) => b.writeUInt16LE(0xd800, b.readUInt32LE(36))), 'CORRUPT'],
    ['an unpaired low surrogate in a key', damaged((b) => b.writeUInt16LE(0xdc00, b.readUInt32LE(20))), 'CORRUPT'],
  ];
  for (const [name, bytes, code] of bad) {
    it(`${name}: ${code}`, () => {
      throwsWithCode(() => decodeParentLocator(bytes), code);
    });
  }

  it('candidates come in the spec order relative_path, volume_path, absolute_win32_path; empty values are skipped', () => {
    const m = new Map([
      ['absolute_win32_path', 'C:\\a.vhdx'],
      ['volume_path', '\\\\?\\Volume{x}\\a.vhdx'],
      ['parent_linkage', '{x}'],
      ['relative_path', '.\\a.vhdx'],
    ]);
    assert.deepEqual(vhdxParentCandidates(m).map((c) => c.source), ['relative_path', 'volume_path', 'absolute_win32_path']);
    assert.deepEqual(vhdxParentCandidates(new Map([['relative_path', ''], ['absolute_win32_path', '/x.vhdx']])), [{ source: 'absolute_win32_path', path: '/x.vhdx' }]);
    assert.deepEqual(vhdxParentCandidates(new Map()), []);
  });
});
