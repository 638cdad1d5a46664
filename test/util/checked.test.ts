import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertWithin, isPowerOfTwo, roundUp, u64ToNumber } from '../../src/util/checked.js';
import { throwsWithCode } from '../helpers/assert-error.js';

describe('u64ToNumber', () => {
  it('converts values up to 2^53 - 1 exactly', () => {
    assert.equal(u64ToNumber(0n, 'f'), 0);
    assert.equal(u64ToNumber(2n ** 53n - 1n, 'f'), Number.MAX_SAFE_INTEGER);
  });

  it('refuses 2^53 and beyond with OUT_OF_RANGE naming the field and value', () => {
    const err = throwsWithCode(() => u64ToNumber(2n ** 53n, 'footer current size'), 'OUT_OF_RANGE');
    assert.equal(err.details.field, 'footer current size');
    assert.equal(err.details.value, '9007199254740992');
    assert.match(err.message, /footer current size/);
    throwsWithCode(() => u64ToNumber(0xffffffffffffffffn, 'x'), 'OUT_OF_RANGE');
    throwsWithCode(() => u64ToNumber(2n ** 60n, 'x'), 'OUT_OF_RANGE');
  });
});

describe('assertWithin', () => {
  it('accepts ranges inside [0, limit], including one that ends at the limit', () => {
    assertWithin('x', 0, 0, 0);
    assertWithin('x', 0, 100, 100);
    assertWithin('x', 99, 1, 100);
  });

  it('refuses ranges that end past the limit, negative or unsafe offsets, negative lengths', () => {
    const err = throwsWithCode(() => assertWithin('BAT', 96, 8, 100), 'CORRUPT');
    assert.deepEqual(err.details, { field: 'BAT', offset: 96, length: 8, limit: 100 });
    throwsWithCode(() => assertWithin('x', -1, 1, 100), 'CORRUPT');
    throwsWithCode(() => assertWithin('x', 0, -1, 100), 'CORRUPT');
    throwsWithCode(() => assertWithin('x', 2 ** 53, 0, 2 ** 60), 'CORRUPT');
    throwsWithCode(() => assertWithin('x', 0.5, 1, 100), 'CORRUPT');
    throwsWithCode(() => assertWithin('x', 0, Infinity, 100), 'CORRUPT');
  });

  // src/util/checked.ts assertWithin: `length < 0 || offset + length > limit` are both false for NaN.
  it('refuses a NaN length', () => {
    throwsWithCode(() => assertWithin('x', 0, NaN, 100), 'CORRUPT');
  });
});

describe('isPowerOfTwo', () => {
  it('is true for every power of two up to 2^52', () => {
    for (let k = 0; k <= 52; k++) assert.equal(isPowerOfTwo(2 ** k), true, `2^${k}`);
  });

  it('is false for zero, negatives, fractions, neighbours of powers and non-numbers', () => {
    for (const n of [0, -2, -512, 0.5, 3, 6, 12, 511, 513, 0xc0000, 2 ** 20 + 1, 2 ** 40 - 1, 2 ** 52 + 2, NaN, Infinity]) {
      assert.equal(isPowerOfTwo(n), false, String(n));
    }
  });
});

describe('roundUp', () => {
  it('rounds to the next multiple, leaving multiples alone', () => {
    assert.equal(roundUp(0, 512), 0);
    assert.equal(roundUp(1, 512), 512);
    assert.equal(roundUp(512, 512), 512);
    assert.equal(roundUp(513, 512), 1024);
    assert.equal(roundUp(32, 512), 512);
  });
});
