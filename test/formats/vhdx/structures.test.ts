/**
 * VHDX structures, part 1 ([MS-VHDX] 2.2): CRC-32C, GUIDs as Windows stores
 * them, headers and the choice of the current one, region tables. Metadata
 * and parent locators: metadata.test.ts; the BAT: bat.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BAT_REGION, HEADER_SIZE, METADATA_REGION, MiB } from '../../../src/formats/vhdx/constants.js';
import { HEADER_LAYOUT, currentHeader, decodeHeader, encodeHeader, type HeaderFields, type VhdxHeader } from '../../../src/formats/vhdx/header.js';
import { checkRegions, decodeRegionTable, encodeRegionTable, type Region } from '../../../src/formats/vhdx/region-table.js';
import { crc32c, crc32cWithZeroField } from '../../../src/util/crc32c.js';
import { formatGuid, formatGuidBraced, guidBytes, parseGuid } from '../../../src/util/guid.js';
import { throwsWithCode } from '../../helpers/assert-error.js';
import { prng } from '../../helpers/prng.js';

/** Bit-at-a-time CRC-32C, straight from the polynomial: the reference the table-driven code must match. */
function referenceCrc32c(buf: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of buf) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

describe('CRC-32C', () => {
  it('gives the standard check value for "123456789" (0xe3069283)', () => {
    assert.equal(crc32c(Buffer.from('123456789', 'latin1')), 0xe3069283);
  });

  it('of nothing is 0; of 32 zero bytes is 0x8a9136aa (RFC 3720 B.4)', () => {
    assert.equal(crc32c(new Uint8Array(0)), 0);
    assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
    assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  });

  it('matches a bit-at-a-time reference for every length 0..100 and odd alignments', () => {
    const rand = prng(0xc4c);
    const data = Uint8Array.from({ length: 300 }, () => Math.floor(rand() * 256));
    for (let n = 0; n <= 100; n++) {
      for (const start of [0, 1, 3, 7]) {
        const piece = data.subarray(start, start + n);
        assert.equal(crc32c(piece), referenceCrc32c(piece), `length ${n} at ${start}`);
      }
    }
  });

  it('continues from a previous result', () => {
    const a = Buffer.from('hello, ');
    const b = Buffer.from('world of 4 KiB headers');
    assert.equal(crc32c(b, crc32c(a)), crc32c(Buffer.concat([a, b])));
  });

  it('with a zeroed field ignores what the field holds and leaves the input alone', () => {
    const buf = Buffer.from('headXXXXrest of the structure');
    const expected = crc32c(Buffer.from('head\0\0\0\0rest of the structure'));
    assert.equal(crc32cWithZeroField(buf, 4), expected);
    assert.equal(buf.toString('latin1', 4, 8), 'XXXX', 'input unchanged');
  });
});

describe('GUIDs (mixed-endian, as [MS-DTYP] stores them)', () => {
  const BAT = '2DC27766-F623-4200-9D64-115E9BFD4A08';

  it('guidBytes stores Data1..Data3 little-endian and Data4 in order', () => {
    assert.equal(Buffer.from(guidBytes(BAT)).toString('hex'), '6677c22d23f600429d64115e9bfd4a08');
    assert.deepEqual([...guidBytes(BAT).subarray(0, 4)], [0x66, 0x77, 0xc2, 0x2d]);
    assert.deepEqual(guidBytes(BAT), BAT_REGION);
  });

  it('formatGuid, formatGuidBraced and parseGuid round trip (any case, braces optional)', () => {
    for (const text of [BAT, '8B7CA206-4790-4B9A-B8FE-575F050F886E', '00000000-0000-0000-0000-000000000001', 'ffffffff-ffff-ffff-ffff-ffffffffffff']) {
      const bytes = guidBytes(text);
      assert.equal(formatGuid(bytes), text.toLowerCase());
      assert.equal(formatGuidBraced(bytes), `{${text.toLowerCase()}}`);
      assert.deepEqual(parseGuid(formatGuidBraced(bytes)), bytes);
      assert.deepEqual(parseGuid(text), bytes);
      assert.deepEqual(parseGuid(` {${text.toLowerCase()}} `), bytes);
    }
    assert.equal(formatGuid(METADATA_REGION), '8b7ca206-4790-4b9a-b8fe-575f050f886e');
  });

  it('formatGuid reads 16 bytes from a view at any offset', () => {
    const buf = new Uint8Array(40);
    buf.set(guidBytes(BAT), 17);
    assert.equal(formatGuid(buf.subarray(17, 33)), BAT.toLowerCase());
  });

  it('parseGuid refuses what is not a GUID; guidBytes throws', () => {
    for (const bad of ['', '{}', 'not a guid', BAT.slice(0, -1), `${BAT}0`, BAT.replace(/-/g, ''), `g${BAT.slice(1)}`, `{${BAT}}}`]) {
      assert.equal(parseGuid(bad), undefined, bad);
    }
    assert.throws(() => guidBytes('xyz'));
  });
});

/** Header fields with every field distinguishable. */
function sampleFields(seq: bigint): HeaderFields {
  return {
    signature: 'head',
    checksum: 0,
    sequenceNumber: seq,
    fileWriteGuid: guidBytes('11111111-2222-3333-4444-555555555555'),
    dataWriteGuid: guidBytes('66666666-7777-8888-9999-AAAAAAAAAAAA'),
    logGuid: new Uint8Array(16),
    logVersion: 0,
    version: 1,
    logLength: MiB,
    logOffset: BigInt(MiB),
  };
}

describe('VHDX header (2.2.2)', () => {
  it('encodes the fields at their spec offsets, little-endian, with the CRC-32C of 4 KiB at offset 4', () => {
    const buf = Buffer.from(encodeHeader(sampleFields(0x0102030405060708n)));
    assert.equal(buf.length, HEADER_SIZE);
    assert.equal(buf.toString('latin1', 0, 4), 'head');
    assert.equal(buf.readBigUInt64LE(8), 0x0102030405060708n);
    assert.equal(formatGuid(buf.subarray(16, 32)), '11111111-2222-3333-4444-555555555555');
    assert.equal(formatGuid(buf.subarray(32, 48)), '66666666-7777-8888-9999-aaaaaaaaaaaa');
    assert.equal(buf.readUInt16LE(64), 0, 'log version');
    assert.equal(buf.readUInt16LE(66), 1, 'version');
    assert.equal(buf.readUInt32LE(68), MiB, 'log length');
    assert.equal(buf.readBigUInt64LE(72), BigInt(MiB), 'log offset');
    assert.ok(buf.subarray(80).every((b) => b === 0), 'reserved bytes zero');
    assert.equal(buf.readUInt32LE(4), crc32cWithZeroField(buf, 4));
    assert.equal(HEADER_LAYOUT.size, 4096);
  });

  it('decodes what it encodes', () => {
    const fields = sampleFields(42n);
    const h = decodeHeader(encodeHeader(fields), 1)!;
    assert.ok(h);
    assert.equal(h.slot, 1);
    assert.equal(h.sequenceNumber, 42n);
    assert.equal(h.logOffset, MiB);
    assert.equal(h.logLength, MiB);
    assert.deepEqual(h.fields.fileWriteGuid, fields.fileWriteGuid);
    assert.deepEqual(h.fields.dataWriteGuid, fields.dataWriteGuid);
    assert.equal(h.fields.version, 1);
  });

  it('a changed byte anywhere in the 4 KiB, or a wrong signature, makes it invalid', () => {
    const good = encodeHeader(sampleFields(7n));
    for (const at of [0, 5, 8, 40, 79, 80, 2000, 4095]) {
      const bad = Uint8Array.from(good);
      bad[at]! ^= 0x10;
      assert.equal(decodeHeader(bad, 0), undefined, `byte ${at}`);
    }
    const wrongSig = encodeHeader({ ...sampleFields(7n), signature: 'HEAD' });
    assert.equal(decodeHeader(wrongSig, 0), undefined, 'signature HEAD with a right CRC');
    assert.equal(decodeHeader(new Uint8Array(4096), 0), undefined, 'all zeros');
  });

  it('bytes past the first 4 KiB of the 64 KiB slot are not checksummed', () => {
    const slot = new Uint8Array(64 * 1024);
    slot.set(encodeHeader(sampleFields(3n)));
    slot.fill(0xee, 4096);
    assert.equal(decodeHeader(slot, 0)?.sequenceNumber, 3n);
  });
});

describe('currentHeader (2.2.2.1)', () => {
  const at = (seq: bigint, slot: number): VhdxHeader => decodeHeader(encodeHeader(sampleFields(seq)), slot)!;

  it('picks the valid header with the higher sequence number, whichever slot holds it', () => {
    assert.equal(currentHeader(at(5n, 0), at(6n, 1))?.slot, 1);
    assert.equal(currentHeader(at(9n, 0), at(6n, 1))?.slot, 0);
    assert.equal(currentHeader(at(2n ** 63n, 0), at(2n ** 63n - 1n, 1))?.slot, 0, 'compares all 64 bits');
  });

  it('picks the valid one when the other is damaged, and none when both are', () => {
    assert.equal(currentHeader(undefined, at(1n, 1))?.slot, 1);
    assert.equal(currentHeader(at(1n, 0), undefined)?.slot, 0);
    const damaged = Uint8Array.from(encodeHeader(sampleFields(100n)));
    damaged[100] = 1;
    assert.equal(currentHeader(decodeHeader(damaged, 0), at(1n, 1))?.sequenceNumber, 1n, 'a damaged header with a higher number loses');
    assert.equal(currentHeader(undefined, undefined), undefined);
  });
});

const region = (guid: Uint8Array, offset: number, length: number, required = true): Region => ({ guid, offset, length, required });
const VALID: Region[] = [region(BAT_REGION, 3 * MiB, MiB), region(METADATA_REGION, 2 * MiB, MiB)];
const UNKNOWN = guidBytes('01234567-89AB-CDEF-0123-456789ABCDEF');

describe('region table (2.2.3)', () => {
  it('encodes entries at 16 + 32 i (GUID, u64 offset, u32 length, u32 required bit) under a CRC-32C of 64 KiB', () => {
    const buf = Buffer.from(encodeRegionTable([...VALID, region(UNKNOWN, 5 * MiB, 2 * MiB, false)]));
    assert.equal(buf.length, 64 * 1024);
    assert.equal(buf.toString('latin1', 0, 4), 'regi');
    assert.equal(buf.readUInt32LE(8), 3, 'entry count');
    assert.deepEqual(buf.subarray(16, 32), Buffer.from(BAT_REGION));
    assert.equal(buf.readBigUInt64LE(32), BigInt(3 * MiB));
    assert.equal(buf.readUInt32LE(40), MiB);
    assert.equal(buf.readUInt32LE(44), 1);
    assert.equal(buf.readUInt32LE(16 + 64 + 28), 0, 'third entry not required');
    assert.equal(buf.readUInt32LE(4), crc32cWithZeroField(buf, 4));
  });

  it('decodes what it encodes, offsets past 4 GiB included', () => {
    const regions = [...VALID, region(UNKNOWN, 5 * 1024 * MiB, 4 * MiB, false)];
    assert.deepEqual(decodeRegionTable(encodeRegionTable(regions)), regions);
    assert.deepEqual(decodeRegionTable(encodeRegionTable([])), []);
  });

  it('a wrong CRC, a wrong signature or more than 2047 entries make the table invalid', () => {
    const good = encodeRegionTable(VALID);
    const flipped = Uint8Array.from(good);
    flipped[60000]! ^= 1;
    assert.equal(decodeRegionTable(flipped), undefined, 'CRC covers all 64 KiB');
    const sig = Buffer.from(good);
    sig.write('REGI', 0, 'latin1');
    sig.writeUInt32LE(crc32cWithZeroField(sig, 4), 4);
    assert.equal(decodeRegionTable(sig), undefined, 'signature');
    const many = Buffer.from(good);
    many.writeUInt32LE(2048, 8);
    many.writeUInt32LE(crc32cWithZeroField(many, 4), 4);
    assert.equal(decodeRegionTable(many), undefined, '2048 entries');
    const most = Buffer.from(encodeRegionTable([]));
    most.writeUInt32LE(2047, 8);
    most.writeUInt32LE(crc32cWithZeroField(most, 4), 4);
    assert.equal(decodeRegionTable(most)?.length, 2047, '2047 entries fit in 64 KiB');
  });

  it('checkRegions returns the BAT and metadata regions of a valid table', () => {
    const r = checkRegions([...VALID, region(UNKNOWN, 8 * MiB, MiB, false)], 16 * MiB);
    assert.equal(r.bat.offset, 3 * MiB);
    assert.equal(r.metadata.offset, 2 * MiB);
    assert.equal(r.all.length, 3, 'an unknown optional region is kept and ignored');
  });

  const bad: [string, Region[], number][] = [
    ['an offset not 1 MiB aligned', [region(BAT_REGION, 3 * MiB + 4096, MiB), VALID[1]!], 16 * MiB],
    ['a length not a multiple of 1 MiB', [region(BAT_REGION, 3 * MiB, MiB + 512), VALID[1]!], 16 * MiB],
    ['a zero length', [region(BAT_REGION, 3 * MiB, 0), VALID[1]!], 16 * MiB],
    ['a region inside the first MiB (headers)', [region(BAT_REGION, 0, MiB), VALID[1]!], 16 * MiB],
    ['overlapping regions', [region(BAT_REGION, 2 * MiB, 2 * MiB), VALID[1]!], 16 * MiB],
    ['two regions at one offset', [region(BAT_REGION, 2 * MiB, MiB), VALID[1]!], 16 * MiB],
    ['a region past the end of the file', [region(BAT_REGION, 3 * MiB, MiB), region(METADATA_REGION, 2 * MiB, MiB)], 3 * MiB + 4096],
    ['an optional unknown region past the end', [...VALID, region(UNKNOWN, 64 * MiB, MiB, false)], 16 * MiB],
    ['a region ending past 2^53', [VALID[0]!, region(METADATA_REGION, 2 ** 53 - MiB, 2 * MiB)], 16 * MiB],
  ];
  for (const [name, regions, fileSize] of bad) {
    it(`checkRegions: ${name} is CORRUPT`, () => {
      throwsWithCode(() => checkRegions(regions, fileSize), 'CORRUPT');
    });
  }

  it('checkRegions: an unknown required region is UNSUPPORTED and named', () => {
    const err = throwsWithCode(() => checkRegions([...VALID, region(UNKNOWN, 8 * MiB, MiB, true)], 16 * MiB), 'UNSUPPORTED');
    assert.match(err.message, /01234567-89ab-cdef-0123-456789abcdef/);
  });

  it('checkRegions: a missing BAT or metadata region is CORRUPT and says which', () => {
    assert.match(throwsWithCode(() => checkRegions([VALID[1]!], 16 * MiB), 'CORRUPT').message, /BAT/);
    assert.match(throwsWithCode(() => checkRegions([VALID[0]!], 16 * MiB), 'CORRUPT').message, /metadata/);
    throwsWithCode(() => checkRegions([], 16 * MiB), 'CORRUPT');
  });
});
