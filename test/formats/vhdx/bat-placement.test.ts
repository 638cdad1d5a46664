/** checkBatPlacement: overlaps between blocks, sector bitmaps and reserved ranges, on BATs of a million entries. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkBatPlacement } from '../../../src/formats/vhdx/bat-placement.js';
import { batGeometry, type Bat, type Reserved } from '../../../src/formats/vhdx/bat-geometry.js';
import { MiB } from '../../helpers/vhdx.js';

const RESERVED: Reserved[] = [
  { what: 'headers', offset: 0, length: MiB },
  { what: 'BAT region', offset: MiB, length: 8 * MiB },
];

/** A BAT of `blocks` 1 MiB payload blocks, all present, laid out back to back from 16 MiB in reverse block order. */
function reversedBat(blocks: number): Bat {
  const geometry = batGeometry(blocks * MiB, MiB, 512, true);
  const offsetsMb = new Float64Array(geometry.payloadBlocks);
  for (let b = 0; b < blocks; b++) offsetsMb[b] = 16 + blocks - 1 - b;
  return { geometry, states: new Uint8Array(geometry.payloadBlocks).fill(6), offsetsMb, bitmapMb: new Float64Array(geometry.bitmapBlocks) };
}

describe('checkBatPlacement', () => {
  it('accepts a million blocks back to back, in any order', () => {
    checkBatPlacement(reversedBat(1 << 20), RESERVED);
  });

  it('names both blocks when two of a million share an offset', () => {
    const bat = reversedBat(1 << 20);
    bat.offsetsMb[700_000] = bat.offsetsMb[300_000]!;
    assert.throws(() => checkBatPlacement(bat, RESERVED), (err: Error) => /block (300000|700000) at .* overlaps block (300000|700000)/.test(err.message));
  });

  it('a sector bitmap inside a block, and a block over a reserved range, are CORRUPT and named', () => {
    const bat = reversedBat(8);
    bat.bitmapMb[0] = bat.offsetsMb[3]!;
    assert.throws(() => checkBatPlacement(bat, RESERVED), /sector bitmap of chunk 0 at \d+ overlaps block 3/);
    const over = reversedBat(8);
    over.offsetsMb[5] = 8;
    assert.throws(() => checkBatPlacement(over, RESERVED), /block 5 at 8388608 overlaps BAT region/);
  });

  it('a reserved range starting inside the last block is an overlap too', () => {
    const bat = reversedBat(4);
    assert.throws(() => checkBatPlacement(bat, [...RESERVED, { what: 'metadata region', offset: 19 * MiB + 4096, length: MiB }]), /metadata region at \d+ overlaps block 0/);
  });
});
