import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DiskType, FEATURE_RESERVED, HostOs, NO_DATA_OFFSET } from '../../../src/formats/vhd/constants.js';
import {
  decodeFooter,
  describeFooter,
  encodeFooter,
  hasFooterCookie,
  timestampToIso,
  vhdTimestamp,
  type FooterFields,
} from '../../../src/formats/vhd/footer.js';
import { throwsWithCode } from '../../helpers/assert-error.js';
import { HYPERV_DYNAMIC_FOOTER_HEX, HYPERV_FIXED_FOOTER_HEX, fromHex } from '../../helpers/vhd-vectors.js';

/** A footer's fields with a few chosen values. */
function fields(over: Partial<FooterFields> = {}): FooterFields {
  return {
    cookie: 'conectix',
    features: FEATURE_RESERVED,
    formatVersion: 0x00010000,
    dataOffset: 512n,
    timestamp: 0x20dc6568,
    creatorApp: 'win ',
    creatorVersion: 0x000a0000,
    creatorHostOs: HostOs.windows,
    originalSize: 4194304n,
    currentSize: 4194304n,
    cylinders: 120,
    heads: 4,
    sectorsPerTrack: 17,
    diskType: DiskType.dynamic,
    checksum: 0,
    uniqueId: Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i),
    savedState: 0,
    ...over,
  };
}

describe('decodeFooter on footers Hyper-V wrote', () => {
  it('reads the fixed footer of node-vhd fixed.vhd', () => {
    const f = decodeFooter(fromHex(HYPERV_FIXED_FOOTER_HEX, 512), 'test');
    assert.equal(f.diskType, 'fixed');
    assert.equal(f.currentSize, 10485760);
    assert.equal(f.originalSize, 10485760);
    assert.equal(f.dataOffset, undefined);
    assert.deepEqual(f.geometry, { cylinders: 301, heads: 4, sectorsPerTrack: 17 });
    assert.equal(f.checksumValid, true);
    assert.equal(f.fields.creatorApp, 'win ');
    assert.equal(describeFooter(f).uuid, '71a5d438-d9d5-f44b-8d26-726a7e7ef18e');
    assert.equal(describeFooter(f).creatorHostOs, 'Wi2k');
    assert.equal(describeFooter(f).creatorVersion, '10.0');
  });

  it('reads the dynamic footer of node-vhd dynamic.vhd', () => {
    const f = decodeFooter(fromHex(HYPERV_DYNAMIC_FOOTER_HEX, 512), 'test');
    assert.equal(f.diskType, 'dynamic');
    assert.equal(f.dataOffset, 512);
    assert.equal(f.currentSize, 512 * 1024 * 1024);
    assert.equal(f.checksumValid, true);
  });
});

describe('encodeFooter / decodeFooter', () => {
  it('round-trips every field and writes a valid checksum', () => {
    const input = fields({ savedState: 1, features: 3, originalSize: 1n << 40n, currentSize: (1n << 41n) + 512n });
    const buf = encodeFooter(input);
    assert.equal(buf.length, 512);
    const f = decodeFooter(buf, 'test');
    assert.equal(f.checksumValid, true);
    assert.equal(f.fields.checksum, f.expectedChecksum);
    assert.deepEqual({ ...f.fields, checksum: 0 }, input);
    assert.equal(f.currentSize, 2 ** 41 + 512);
    assert.equal(f.originalSize, 2 ** 40);
  });

  it('puts fields at their spec offsets, big-endian', () => {
    const buf = Buffer.from(encodeFooter(fields({ currentSize: 0x0102030405060708n })));
    assert.equal(buf.toString('latin1', 0, 8), 'conectix');
    assert.equal(buf.readBigUInt64BE(48), 0x0102030405060708n);
    assert.equal(buf.readUInt32BE(60), 3);
    assert.equal(buf.readUInt16BE(56), 120);
    assert.equal(buf[58], 4);
    assert.equal(buf[59], 17);
    assert.equal(buf[68], 0xa0);
    assert.equal(buf.readBigUInt64BE(16), 512n);
  });

  it('ignores the checksum passed in and computes its own', () => {
    const a = encodeFooter(fields({ checksum: 0x12345678 }));
    const b = encodeFooter(fields());
    assert.deepEqual(a, b);
  });

  it('flags a wrong checksum without throwing, and reports the expected one', () => {
    const buf = encodeFooter(fields());
    const good = decodeFooter(buf, 'test').fields.checksum;
    buf[100] = 1;
    const f = decodeFooter(buf, 'test');
    assert.equal(f.checksumValid, false);
    assert.equal(f.fields.checksum, good);
    assert.equal(f.expectedChecksum, (good - 1) >>> 0);
  });

  it('maps data offset: none for fixed and for 0xffff... on a dynamic footer', () => {
    assert.equal(decodeFooter(encodeFooter(fields({ diskType: DiskType.fixed, dataOffset: NO_DATA_OFFSET })), 't').dataOffset, undefined);
    assert.equal(decodeFooter(encodeFooter(fields({ diskType: DiskType.fixed, dataOffset: 512n })), 't').dataOffset, undefined);
    assert.equal(decodeFooter(encodeFooter(fields({ dataOffset: NO_DATA_OFFSET })), 't').dataOffset, undefined);
    assert.equal(decodeFooter(encodeFooter(fields({ diskType: DiskType.differencing })), 't').diskType, 'differencing');
  });
});

describe('decodeFooter refusals', () => {
  it('refuses a missing cookie with INVALID_FORMAT', () => {
    const buf = encodeFooter(fields());
    buf[0] = 0x43;
    throwsWithCode(() => decodeFooter(buf, 'offset 0'), 'INVALID_FORMAT');
    throwsWithCode(() => decodeFooter(new Uint8Array(512), 'offset 0'), 'INVALID_FORMAT');
  });

  it('refuses disk types other than 2, 3, 4 with UNSUPPORTED naming the value', () => {
    for (const t of [0, 1, 5, 6, 0xffffffff]) {
      const err = throwsWithCode(() => decodeFooter(encodeFooter(fields({ diskType: t })), 't'), 'UNSUPPORTED');
      assert.equal(err.details.value, t);
    }
  });

  it('refuses sizes and data offsets past 2^53 with OUT_OF_RANGE', () => {
    throwsWithCode(() => decodeFooter(encodeFooter(fields({ currentSize: 1n << 60n })), 't'), 'OUT_OF_RANGE');
    throwsWithCode(() => decodeFooter(encodeFooter(fields({ originalSize: 1n << 53n })), 't'), 'OUT_OF_RANGE');
    throwsWithCode(() => decodeFooter(encodeFooter(fields({ dataOffset: 1n << 62n })), 't'), 'OUT_OF_RANGE');
  });
});

describe('footer helpers', () => {
  it('hasFooterCookie needs the 8 cookie bytes at the start', () => {
    assert.equal(hasFooterCookie(Buffer.from('conectix')), true);
    assert.equal(hasFooterCookie(Buffer.from('conecti')), false);
    assert.equal(hasFooterCookie(Buffer.from('xconectix')), false);
    assert.equal(hasFooterCookie(new Uint8Array(0)), false);
  });

  it('converts timestamps from and to the 2000-01-01 epoch', () => {
    assert.equal(vhdTimestamp(new Date('2000-01-01T00:00:00Z')), 0);
    assert.equal(vhdTimestamp(new Date('2000-01-01T00:01:40Z')), 100);
    assert.equal(vhdTimestamp(new Date('1999-12-31T00:00:00Z')), 0);
    assert.equal(timestampToIso(0x20dc6568), '2017-06-20T22:59:52.000Z');
    assert.equal(vhdTimestamp(new Date(timestampToIso(123456789))), 123456789);
  });

  it('describeFooter strips NUL padding from the creator application', () => {
    const f = decodeFooter(encodeFooter(fields({ creatorApp: 'wa\0\0', savedState: 1 })), 't');
    const d = describeFooter(f);
    assert.equal(d.creatorApplication, 'wa');
    assert.equal(d.savedState, true);
    assert.equal(d.footerChecksumValid, true);
  });
});
