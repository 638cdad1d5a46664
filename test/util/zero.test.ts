import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isAllZero } from '../../src/util/zero.js';

describe('isAllZero', () => {
  it('is true for empty and all-zero buffers of many sizes', () => {
    for (const n of [0, 1, 511, 65535, 65536, 65537, 3 * 65536 + 17]) assert.equal(isAllZero(new Uint8Array(n)), true, String(n));
  });

  it('finds a single non-zero byte anywhere in a 1 MiB + 3 buffer', () => {
    const size = (1 << 20) + 3;
    const buf = new Uint8Array(size);
    for (const pos of [0, 1, 4095, 65535, 65536, 65537, 131071, 524288, size - 4, size - 2, size - 1]) {
      buf[pos] = 0x80;
      assert.equal(isAllZero(buf), false, `byte ${pos}`);
      buf[pos] = 0;
    }
    assert.equal(isAllZero(buf), true);
  });

  it('looks only at the subarray it is given', () => {
    const backing = new Uint8Array(200000);
    backing[0] = 1;
    backing[199999] = 1;
    assert.equal(isAllZero(backing.subarray(1, 199999)), true);
    assert.equal(isAllZero(backing.subarray(0, 199999)), false);
    assert.equal(isAllZero(backing.subarray(1)), false);
    backing[70001] = 1;
    assert.equal(isAllZero(backing.subarray(70000, 70002)), false);
  });
});
