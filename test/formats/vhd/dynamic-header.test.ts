import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HEADER_COOKIE, HEADER_VERSION, NO_DATA_OFFSET, PlatformCode } from '../../../src/formats/vhd/constants.js';
import {
  LOCATORS_OFFSET,
  decodeDynamicHeader,
  decodeParentName,
  encodeDynamicHeader,
  encodeParentName,
  type HeaderFields,
  type LocatorEntry,
} from '../../../src/formats/vhd/dynamic-header.js';
import { throwsWithCode } from '../../helpers/assert-error.js';
import { HYPERV_DYNAMIC_HEADER_HEX, fromHex } from '../../helpers/vhd-vectors.js';

const PARENT = 'bäse-😀 (1).vhd';

function fields(over: Partial<HeaderFields> = {}): HeaderFields {
  return {
    cookie: HEADER_COOKIE,
    dataOffset: NO_DATA_OFFSET,
    tableOffset: 1536n,
    headerVersion: HEADER_VERSION,
    maxTableEntries: 8,
    blockSize: 512 * 1024,
    checksum: 0,
    parentUniqueId: Uint8Array.from({ length: 16 }, (_, i) => i + 1),
    parentTimestamp: 0x12345678,
    parentUnicodeName: encodeParentName(PARENT),
    ...over,
  };
}

const LOCATORS: LocatorEntry[] = [
  { platformCode: PlatformCode.w2ku, platformDataSpace: 512, platformDataLength: 38, platformDataOffset: 2048n },
  { platformCode: PlatformCode.w2ru, platformDataSpace: 1, platformDataLength: 20, platformDataOffset: 2560n },
];

describe('dynamic header', () => {
  it('reads the header Hyper-V wrote in node-vhd dynamic.vhd', () => {
    const h = decodeDynamicHeader(fromHex(HYPERV_DYNAMIC_HEADER_HEX, 1024), 512);
    assert.equal(h.tableOffset, 1536);
    assert.equal(h.maxTableEntries, 256);
    assert.equal(h.blockSize, 2 * 1024 * 1024);
    assert.equal(h.checksumValid, true);
    assert.equal(h.parentName, '');
    assert.equal(h.locators.every((l) => l.platformCode === 0), true);
  });

  it('round-trips fields, locators and a UTF-16BE parent name with a surrogate pair', () => {
    const buf = encodeDynamicHeader(fields(), LOCATORS);
    assert.equal(buf.length, 1024);
    const h = decodeDynamicHeader(buf, 512);
    assert.equal(h.checksumValid, true);
    assert.equal(h.parentName, PARENT);
    assert.equal(h.tableOffset, 1536);
    assert.equal(h.blockSize, 524288);
    assert.equal(h.maxTableEntries, 8);
    assert.deepEqual(h.fields.parentUniqueId, fields().parentUniqueId);
    assert.equal(h.fields.parentTimestamp, 0x12345678);
    assert.deepEqual(h.locators.slice(0, 2), LOCATORS);
    assert.equal(h.locators.length, 8);
    assert.equal(h.locators[2]!.platformCode, 0);
  });

  it('stores the parent name big-endian at 64 and locators at 576, 24 bytes apart', () => {
    const buf = Buffer.from(encodeDynamicHeader(fields({ parentUnicodeName: encodeParentName('Ab') }), LOCATORS));
    assert.deepEqual([...buf.subarray(64, 70)], [0, 0x41, 0, 0x62, 0, 0]);
    assert.equal(LOCATORS_OFFSET, 576);
    assert.equal(buf.readUInt32BE(576), PlatformCode.w2ku);
    assert.equal(buf.readUInt32BE(576 + 24), PlatformCode.w2ru);
    assert.equal(buf.readBigUInt64BE(576 + 24 + 16), 2560n);
    assert.equal(buf.readUInt32BE(28), 8);
    assert.equal(buf.readUInt32BE(32), 524288);
  });

  it('flags a wrong checksum without throwing', () => {
    const buf = encodeDynamicHeader(fields(), []);
    buf[600] = 0x7f;
    const h = decodeDynamicHeader(buf, 512);
    assert.equal(h.checksumValid, false);
    assert.equal(h.expectedChecksum, (h.fields.checksum - 0x7f) >>> 0);
  });

  it('refuses a wrong cookie with CORRUPT', () => {
    const buf = encodeDynamicHeader(fields({ cookie: 'cxspars' }), []);
    const err = throwsWithCode(() => decodeDynamicHeader(buf, 512), 'CORRUPT');
    assert.equal(err.details.field, 'cookie');
  });

  it('refuses block sizes that are zero, not a power of two, or under a sector', () => {
    for (const blockSize of [0, 256, 1, 3 * 512 * 1024, 0x80000001, 0xffffffff]) {
      const err = throwsWithCode(() => decodeDynamicHeader(encodeDynamicHeader(fields({ blockSize }), []), 512), 'CORRUPT');
      assert.equal(err.details.field, 'blockSize');
      assert.equal(err.details.value, blockSize);
    }
    assert.equal(decodeDynamicHeader(encodeDynamicHeader(fields({ blockSize: 512 }), []), 512).blockSize, 512);
    assert.equal(decodeDynamicHeader(encodeDynamicHeader(fields({ blockSize: 0x80000000 }), []), 512).blockSize, 0x80000000);
  });

  it('refuses a BAT offset that is not sector-aligned (CORRUPT) or past 2^53 (OUT_OF_RANGE)', () => {
    const err = throwsWithCode(() => decodeDynamicHeader(encodeDynamicHeader(fields({ tableOffset: 1537n }), []), 512), 'CORRUPT');
    assert.equal(err.details.field, 'tableOffset');
    throwsWithCode(() => decodeDynamicHeader(encodeDynamicHeader(fields({ tableOffset: 1n << 60n }), []), 512), 'OUT_OF_RANGE');
  });
});

describe('parent name (UTF-16BE)', () => {
  it('decodes up to the first NUL', () => {
    const raw = encodeParentName('abc');
    raw[8] = 0;
    raw[9] = 0x78;
    assert.equal(decodeParentName(raw), 'abc');
    assert.equal(decodeParentName(new Uint8Array(512)), '');
  });

  it('accepts a name of exactly 256 units and refuses 257 with USAGE', () => {
    const name = 'n'.repeat(256);
    const raw = encodeParentName(name);
    assert.equal(decodeParentName(raw), name);
    throwsWithCode(() => encodeParentName('n'.repeat(257)), 'USAGE');
  });

  it('turns unpaired surrogates into U+FFFD', () => {
    const raw = new Uint8Array(512);
    raw.set([0xd8, 0x3d, 0x00, 0x41, 0xdc, 0x00]);
    assert.equal(decodeParentName(raw), '\ufffdA\ufffd');
  });
});
