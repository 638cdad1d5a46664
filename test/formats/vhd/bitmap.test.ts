import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bitmapRuns, setBits } from '../../../src/formats/vhd/bitmap.js';

describe('bitmapRuns', () => {
  it('reads bits most significant first, one per 512-byte sector', () => {
    const bitmap = new Uint8Array(4);
    bitmap[0] = 0b0110_0000;
    assert.deepEqual(bitmapRuns(bitmap, 0, 4 * 512), [
      { start: 0, end: 512, set: false },
      { start: 512, end: 1536, set: true },
      { start: 1536, end: 2048, set: false },
    ]);
  });

  it('splits an unaligned range at sector boundaries and clips to it', () => {
    const bitmap = new Uint8Array([0b1010_0000]);
    assert.deepEqual(bitmapRuns(bitmap, 100, 1100), [
      { start: 100, end: 512, set: true },
      { start: 512, end: 1024, set: false },
      { start: 1024, end: 1100, set: true },
    ]);
    assert.deepEqual(bitmapRuns(bitmap, 700, 800), [{ start: 700, end: 800, set: false }]);
    assert.deepEqual(bitmapRuns(bitmap, 5, 5), []);
  });

  it('keeps one run across byte boundaries', () => {
    const bitmap = new Uint8Array([0x01, 0xff, 0x80, 0x00]);
    const runs = bitmapRuns(bitmap, 0, 32 * 512);
    assert.deepEqual(runs, [
      { start: 0, end: 7 * 512, set: false },
      { start: 7 * 512, end: 17 * 512, set: true },
      { start: 17 * 512, end: 32 * 512, set: false },
    ]);
  });
});

describe('setBits', () => {
  it('sets the bits of every sector the byte range touches and says whether any changed', () => {
    const bitmap = new Uint8Array(2);
    assert.equal(setBits(bitmap, 700, 1025), true);
    assert.deepEqual([...bitmap], [0b0110_0000, 0]);
    assert.equal(setBits(bitmap, 512, 1536), false);
    assert.equal(setBits(bitmap, 4096, 4097), true);
    assert.deepEqual([...bitmap], [0b0110_0000, 0b1000_0000]);
  });

  it('sets nothing for an empty range', () => {
    const bitmap = new Uint8Array(1);
    assert.equal(setBits(bitmap, 512, 512), false);
    assert.equal(bitmap[0], 0);
  });
});
