import assert from 'node:assert/strict';
import { test } from 'node:test';
import { alignedBuffer, DIRECT_ALIGN, isPageAligned } from '../../src/io/aligned-buffer.js';
import { fileHelper } from '../../src/io/native.js';

test('alignedBuffer starts on a page boundary, is zeroed and has the asked length', { skip: fileHelper.kind !== 'native' && 'no native helper' }, () => {
  for (const size of [DIRECT_ALIGN, 8 * 1024 * 1024, 3 * DIRECT_ALIGN + 7]) {
    const buf = alignedBuffer(size);
    assert.equal(buf.length, size);
    assert.equal(fileHelper.pageOffset(buf), 0);
    assert.ok(isPageAligned(buf));
    assert.ok(buf.every((b) => b === 0));
  }
});

test('pageOffset follows the view: a view 512 bytes in is 512 bytes into its page', { skip: fileHelper.kind !== 'native' && 'no native helper' }, () => {
  const buf = alignedBuffer(2 * DIRECT_ALIGN);
  assert.equal(fileHelper.pageOffset(buf.subarray(512)), 512);
  assert.equal(fileHelper.pageOffset(buf.subarray(DIRECT_ALIGN)), 0);
  assert.equal(isPageAligned(buf.subarray(512)), false);
});
