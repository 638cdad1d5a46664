import { blocksWithData, spanBytes } from '../../util/spans.js';
import { roundUp } from '../../util/checked.js';
import { parseSize } from '../../util/sizes.js';
import type { Measurement } from '../types.js';
import { appendedBlockOffset, bitmapBytes, blockCountFor } from './bat.js';
import { DEFAULT_BLOCK_SIZE, FOOTER_SIZE, HEADER_SIZE, SECTOR } from './constants.js';

/**
 * The VHD `convert` writes: fixed = data + footer; dynamic = footer copy,
 * header, BAT, then a bitmap and a whole block for every block holding a
 * non-zero run (data 4 KiB aligned, as writer.ts places it), and the footer.
 */
export function measureVhd(virtualSize: number, options: Record<string, string>, nonZero: { start: number; end: number }[]): Measurement {
  const size = roundUp(virtualSize, SECTOR);
  const data = spanBytes(nonZero);
  if (options.subformat === 'fixed') return { fileSize: size + FOOTER_SIZE, allocatedBytes: (options.preallocation === 'full' ? size : data) + FOOTER_SIZE };
  const bs = options.block_size === undefined ? DEFAULT_BLOCK_SIZE : parseSize(options.block_size);
  const dataStart = FOOTER_SIZE + HEADER_SIZE + roundUp(blockCountFor(size, bs) * 4, SECTOR);
  const blocks = blocksWithData(nonZero, bs).length;
  const blocksEnd = blocks === 0 ? dataStart : appendedBlockOffset(dataStart, bs, blocks - 1) + bitmapBytes(bs) + bs;
  return { fileSize: blocksEnd + FOOTER_SIZE, allocatedBytes: dataStart + FOOTER_SIZE + blocks * bitmapBytes(bs) + data };
}
