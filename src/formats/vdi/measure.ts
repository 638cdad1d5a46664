import { roundUp } from '../../util/checked.js';
import { blocksWithData, spanBytes } from '../../util/spans.js';
import type { Measurement } from '../types.js';
import { HEADER1PLUS_SIZE, PRE_HEADER_SIZE, SECTOR } from './constants.js';
import { blockSizeOption, newLayout } from './new-image.js';

/**
 * The VDI `convert` writes (create.ts, writer.ts): header, block array at
 * 1 MiB, data from the next MiB; fixed holds every block, dynamic a whole
 * block for every block with a non-zero run, the blocks back to back.
 */
export function measureVdi(virtualSize: number, options: Record<string, string>, nonZero: { start: number; end: number }[]): Measurement {
  const size = roundUp(virtualSize, SECTOR);
  const bs = blockSizeOption(options.block_size);
  const { blocks, dataOffset } = newLayout(size, bs);
  const stored = options.subformat === 'fixed' ? blocks : blocksWithData(nonZero, bs).length;
  const data = options.preallocation === 'full' ? blocks * bs : spanBytes(nonZero);
  return { fileSize: dataOffset + stored * bs, allocatedBytes: PRE_HEADER_SIZE + HEADER1PLUS_SIZE + blocks * 4 + data };
}
