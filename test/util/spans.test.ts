import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { blocksWithData, chunkSpans, spanBytes, unionSpans } from '../../src/util/spans.js';

describe('span helpers', () => {
  it('blocksWithData: each block holding part of a span, once, in order', () => {
    assert.deepEqual(blocksWithData([], 10), []);
    assert.deepEqual(blocksWithData([{ start: 0, end: 1 }], 10), [0]);
    assert.deepEqual(blocksWithData([{ start: 9, end: 11 }, { start: 15, end: 20 }, { start: 20, end: 21 }], 10), [0, 1, 2]);
    assert.deepEqual(blocksWithData([{ start: 10, end: 20 }, { start: 45, end: 46 }], 10), [1, 4], 'a span ending on a boundary does not reach the next block');
  });

  it('spanBytes sums the lengths', () => {
    assert.equal(spanBytes([]), 0);
    assert.equal(spanBytes([{ start: 3, end: 5 }, { start: 10, end: 20 }]), 12);
  });

  it('unionSpans sorts and merges overlapping and touching spans of several lists', () => {
    assert.deepEqual(unionSpans([{ start: 10, end: 20 }], [{ start: 0, end: 5 }, { start: 5, end: 8 }], [{ start: 15, end: 30 }]), [
      { start: 0, end: 8 },
      { start: 10, end: 30 },
    ]);
    const input = [{ start: 1, end: 2 }];
    unionSpans(input)[0]!.end = 99;
    assert.equal(input[0]!.end, 2, 'the input is not changed');
  });

  it('chunkSpans cuts spans into pieces of at most the size, none empty', () => {
    assert.deepEqual([...chunkSpans([{ start: 0, end: 25 }, { start: 30, end: 31 }], 10)], [
      { start: 0, end: 10 },
      { start: 10, end: 20 },
      { start: 20, end: 25 },
      { start: 30, end: 31 },
    ]);
  });
});
