import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compressedExtent, decodeL2Entry } from '../../../src/formats/qcow2/l2-entry.js';

const std = { clusterBits: 16, v3: true, extended: false, dataFile: false };

/** The high and low words of a u64 entry. */
function words(v: bigint): [number, number] {
  return [Number(v >> 32n), Number(v & 0xffffffffn)];
}

test('standard entries: unallocated, allocated with OFLAG_COPIED, zero flag only in version 3', () => {
  assert.deepEqual(decodeL2Entry(0, 0, std), { type: 'unallocated' });
  const [hi, lo] = words((1n << 63n) | 0x1230000n);
  assert.deepEqual(decodeL2Entry(hi, lo, std), { type: 'normal', host: 0x1230000, copied: true, alloc: 0xffffffff, zero: 0 });
  assert.deepEqual(decodeL2Entry(0, 1, std), { type: 'zero' });
  const [zh, zl] = words(0x50000n | 1n);
  assert.deepEqual(decodeL2Entry(zh, zl, std), { type: 'zero' }, 'a preallocated zero cluster reads as zeros');
  assert.deepEqual(decodeL2Entry(0, 1, { ...std, v3: false }), { type: 'unallocated' }, 'version 2 has no zero flag');
});

test('host offset 0 is allocated only with an external data file and bit 63', () => {
  assert.deepEqual(decodeL2Entry(0x80000000, 0, std), { type: 'unallocated' });
  assert.deepEqual(decodeL2Entry(0x80000000, 0, { ...std, dataFile: true }), { type: 'normal', host: 0, copied: true, alloc: 0xffffffff, zero: 0 });
});

test('compressed descriptors: offset in bits 0..x-1, extra sectors in x..61, for 4 KiB, 64 KiB and 2 MiB clusters', () => {
  for (const bits of [12, 16, 21]) {
    const x = BigInt(62 - (bits - 8));
    const entry = (1n << 62n) | (3n << x) | 0x12345n;
    const [hi, lo] = words(entry);
    assert.deepEqual(compressedExtent(hi, lo, bits), { host: 0x12345, storedLength: 4 * 512 - (0x12345 % 512) });
    assert.deepEqual(decodeL2Entry(hi, lo, { ...std, clusterBits: bits }), { type: 'compressed', host: 0x12345, storedLength: 4 * 512 - 0x145 });
  }
});

test('extended entries: the allocation and zero bitmaps', () => {
  const ext = { ...std, extended: true };
  assert.deepEqual(decodeL2Entry(0, 0, { ...ext, bitmapHi: 0, bitmapLo: 0 }), { type: 'unallocated' });
  assert.deepEqual(decodeL2Entry(0x80000000, 0x70000, { ...ext, bitmapHi: 0xf0, bitmapLo: 0x0f }), { type: 'normal', host: 0x70000, copied: true, alloc: 0x0f, zero: 0xf0 });
  assert.deepEqual(decodeL2Entry(0, 0, { ...ext, bitmapHi: 0xffffffff, bitmapLo: 0 }), { type: 'normal', host: 0, copied: false, alloc: 0, zero: 0xffffffff });
});
