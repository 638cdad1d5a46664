import assert from 'node:assert/strict';
import { test } from 'node:test';
import { zstdFrame } from '../../src/util/zstd-frame.js';
import { rawFrame } from '../helpers/zstd.js';

test('the end of a frame is found from its block headers; bytes after it are not part of it', () => {
  const frame = rawFrame([new Uint8Array(10).fill(1), new Uint8Array(5).fill(2)], true);
  const withTail = Uint8Array.from([...frame, 0xde, 0xad, 0xbe, 0xef]);
  assert.deepEqual(zstdFrame(withTail), { end: frame.length, contentSize: 15, windowSize: 15 });
  const noFcs = rawFrame([new Uint8Array(3)], false, true);
  assert.deepEqual(zstdFrame(noFcs), { end: noFcs.length, contentSize: undefined, windowSize: 2 ** 20 }, 'window descriptor 0x50: 2^(10+10)');
});

test('a frame that is not one: bad magic, reserved bits, reserved block type, truncation', () => {
  const frame = rawFrame([new Uint8Array(10)], true);
  assert.equal(zstdFrame(frame.subarray(0, frame.length - 1)), 'truncated block');
  assert.equal(zstdFrame(Uint8Array.from([0, 0, 0, 0, 0, 0])), 'no zstd frame magic');
  const reserved = Uint8Array.from(frame);
  reserved[4] |= 0x08;
  assert.equal(zstdFrame(reserved), 'reserved bit set in the frame header');
  const badBlock = Uint8Array.from(frame);
  badBlock[6] |= 0x06;
  assert.equal(zstdFrame(badBlock), 'reserved block type');
  assert.equal(zstdFrame(frame.subarray(0, 7)), 'truncated block header');
});
