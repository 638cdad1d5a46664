import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatSize, parseSize } from '../../src/util/sizes.js';
import { throwsWithCode } from '../helpers/assert-error.js';

describe('parseSize', () => {
  it('reads plain byte counts and binary units', () => {
    assert.equal(parseSize('512'), 512);
    assert.equal(parseSize('10M'), 10 * 1024 * 1024);
    assert.equal(parseSize('4G'), 4 * 1024 ** 3);
    assert.equal(parseSize('2T'), 2 * 1024 ** 4);
    assert.equal(parseSize('64K'), 65536);
    assert.equal(parseSize('1P'), 1024 ** 5);
  });

  it('accepts lower case, B/iB suffixes, fractions and spaces', () => {
    assert.equal(parseSize('10m'), 10 * 1024 * 1024);
    assert.equal(parseSize('10MiB'), 10 * 1024 * 1024);
    assert.equal(parseSize('10MB'), 10 * 1024 * 1024);
    assert.equal(parseSize('1.5K'), 1536);
    assert.equal(parseSize(' 2 G '), 2 * 1024 ** 3);
    assert.equal(parseSize('100B'), 100);
  });

  it('refuses malformed sizes with USAGE, naming the input', () => {
    for (const bad of ['', 'abc', '10X', '-1', '1e3', '10 M M', 'M', '0x10', '1,5G']) {
      const err = throwsWithCode(() => parseSize(bad), 'USAGE');
      assert.equal(err.details.value, bad);
    }
  });

  it('refuses sizes past 2^53 with OUT_OF_RANGE', () => {
    throwsWithCode(() => parseSize('100000P'), 'OUT_OF_RANGE');
    throwsWithCode(() => parseSize('99999999999999999999'), 'OUT_OF_RANGE');
  });
});

describe('formatSize', () => {
  it('prints binary units for people', () => {
    assert.equal(formatSize(512), '512 B');
    assert.equal(formatSize(10 * 1024 ** 3), '10 GiB');
    assert.equal(formatSize(1.5 * 1024 * 1024), '1.50 MiB');
    assert.equal(formatSize(1023), '1023 B');
    assert.equal(formatSize(2 * 1024 ** 5), '2 PiB');
    assert.equal(formatSize(2048 * 1024 ** 5), '2048 PiB');
  });
});
