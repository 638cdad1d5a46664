import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bitRuns, type BitRun } from '../../src/util/bit-runs.js';
import { prng } from '../helpers/prng.js';

/** The runs, bit by bit: the reference bitRuns must match. */
function naiveRuns(bitmap: Uint8Array, from: number, to: number, unit: number, msbFirst: boolean): BitRun[] {
  const runs: BitRun[] = [];
  for (let pos = from; pos < to; ) {
    const u = Math.floor(pos / unit);
    const set = ((bitmap[u >> 3]! >> (msbFirst ? 7 - (u & 7) : u & 7)) & 1) === 1;
    const end = Math.min(to, (u + 1) * unit);
    const last = runs.at(-1);
    if (last && last.set === set) last.end = end;
    else runs.push({ start: pos, end, set });
    pos = end;
  }
  return runs;
}

test('bitRuns splits ranges by set and clear bits in both bit orders', () => {
  assert.deepEqual(bitRuns(Uint8Array.of(0b1100_0000, 0xff), 0, 16 * 512, 512, true), [
    { start: 0, end: 1024, set: true },
    { start: 1024, end: 4096, set: false },
    { start: 4096, end: 8192, set: true },
  ]);
  assert.deepEqual(bitRuns(Uint8Array.of(0b0000_0011), 100, 1500, 512, false), [
    { start: 100, end: 1024, set: true },
    { start: 1024, end: 1500, set: false },
  ]);
});

test('bitRuns equals a bit-by-bit walk on random bitmaps with long runs of whole bytes', () => {
  const rand = prng(11);
  for (let round = 0; round < 300; round++) {
    const bitmap = new Uint8Array(64);
    for (let i = 0; i < bitmap.length; i++) {
      const r = rand();
      bitmap[i] = r < 0.4 ? 0xff : r < 0.8 ? 0 : Math.floor(rand() * 256);
    }
    const unit = [1, 512, 4096][round % 3]!;
    const bits = bitmap.length * 8;
    const from = Math.floor(rand() * bits * unit);
    const to = from + Math.floor(rand() * (bits * unit - from)) + 1;
    const msbFirst = round % 2 === 0;
    assert.deepEqual(bitRuns(bitmap, from, Math.min(to, bits * unit), unit, msbFirst), naiveRuns(bitmap, from, Math.min(to, bits * unit), unit, msbFirst));
  }
});
