import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeStruct, defineStruct, encodeStruct } from '../../src/util/struct.js';

const FIELDS = {
  tag: { offset: 0, type: 'ascii', length: 4 },
  a8: { offset: 4, type: 'u8' },
  a16: { offset: 5, type: 'u16' },
  a32: { offset: 7, type: 'u32' },
  a64: { offset: 11, type: 'u64' },
  raw: { offset: 19, type: 'bytes', length: 3 },
} as const;

const BE = defineStruct('test be', 24, 'be', FIELDS);
const LE = defineStruct('test le', 24, 'le', FIELDS);

const VALUES = {
  tag: 'ab',
  a8: 0xfe,
  a16: 0x1234,
  a32: 0x89abcdef,
  a64: 0x0102030405060708n,
  raw: new Uint8Array([9, 8, 7]),
};

describe('struct codec', () => {
  it('encodes big-endian fields at their offsets', () => {
    const buf = new Uint8Array(24).fill(0xaa);
    encodeStruct(BE, VALUES, buf);
    assert.deepEqual(
      [...buf],
      [0x61, 0x62, 0, 0, 0xfe, 0x12, 0x34, 0x89, 0xab, 0xcd, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 8, 7, 0xaa, 0xaa],
    );
  });

  it('encodes little-endian fields byte-reversed', () => {
    const buf = new Uint8Array(24);
    encodeStruct(LE, VALUES, buf);
    assert.deepEqual([...buf.subarray(5, 19)], [0x34, 0x12, 0xef, 0xcd, 0xab, 0x89, 8, 7, 6, 5, 4, 3, 2, 1]);
    assert.deepEqual([...buf.subarray(19, 22)], [9, 8, 7], 'bytes are not reordered');
  });

  it('decodes what it encoded, in both byte orders', () => {
    for (const layout of [BE, LE]) {
      const buf = new Uint8Array(24);
      encodeStruct(layout, VALUES, buf);
      const out = decodeStruct(layout, buf);
      assert.deepEqual(out, { ...VALUES, tag: 'ab\0\0' });
    }
  });

  it('reads the same bytes differently by byte order', () => {
    const buf = new Uint8Array(24);
    buf.set([0x12, 0x34], 5);
    assert.equal(decodeStruct(BE, buf).a16, 0x1234);
    assert.equal(decodeStruct(LE, buf).a16, 0x3412);
  });

  it('decodes and encodes at an offset inside a larger buffer and a subarray', () => {
    const big = new Uint8Array(100);
    encodeStruct(BE, VALUES, big, 40);
    assert.equal(big[39], 0);
    assert.equal(big[40], 0x61);
    assert.equal(decodeStruct(BE, big, 40).a64, VALUES.a64);
    const sub = big.subarray(30);
    assert.equal(decodeStruct(BE, sub, 10).a32, VALUES.a32);
    assert.equal(decodeStruct(BE, sub, 10).tag, 'ab\0\0');
  });

  it('decodes u64 values above 2^53 exactly as bigint', () => {
    const buf = new Uint8Array(24);
    encodeStruct(BE, { ...VALUES, a64: 0xffffffffffffffffn }, buf);
    assert.equal(decodeStruct(BE, buf).a64, 0xffffffffffffffffn);
  });

  it('pads short ascii with NULs and cuts long ascii to the field length', () => {
    const buf = new Uint8Array(24).fill(0x55);
    encodeStruct(BE, { ...VALUES, tag: 'toolongtext' }, buf);
    assert.equal(decodeStruct(BE, buf).tag, 'tool');
    assert.equal(buf[4], 0xfe, 'the next field is untouched');
  });

  it('decoded bytes are a copy, not a view of the buffer', () => {
    const buf = new Uint8Array(24);
    encodeStruct(BE, VALUES, buf);
    const out = decodeStruct(BE, buf);
    buf[19] = 0;
    assert.equal(out.raw[0], 9);
  });

  it('refuses a table whose field does not fit or has no width', () => {
    assert.throws(() => defineStruct('bad', 8, 'be', { x: { offset: 6, type: 'u32' } }), /bad\.x does not fit in 8 bytes/);
    assert.throws(() => defineStruct('bad', 8, 'be', { x: { offset: 0, type: 'bytes' } }), /bad\.x/);
    assert.equal(defineStruct('ok', 8, 'le', { x: { offset: 4, type: 'u32' } }).littleEndian, true);
  });
});
