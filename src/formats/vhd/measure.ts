import { blocksWithData, spanBytes } from '../../engine/scan.js';
import { roundUp } from '../../util/checked.js';
import { parseSize } from '../../util/sizes.js';
import type { Measurement } from '../types.js';
import { bitmapBytes, blockCountFor } from './bat.js';
import { DEFAULT_BLOCK_SIZE, FOOTER_SIZE, HEADER_SIZE, SECTOR } from './constants.js';

/**
 * The VHD `convert` writes: fixed = data + footer; dynamic = footer copy,
 * header, BAT, then a bitmap and a whole block for every block holding a
 * non-zero run, and the footer (create.ts, writer.ts).
 */
export function measureVhd(virtualSize: number, options: Record<string, string>, nonZero: { start: number; end: number }[]): Measurement {
  const size = roundUp(virtualSize, SECTOR);
  const data = spanBytes(nonZero);
  if (options.subformat === 'fixed') return { fileSize: size + FOOTER_SIZE, allocatedBytes: (options.preallocation === 'full' ? size : data) + FOOTER_SIZE };
  const bs = options.block_size === undefined ? DEFAULT_BLOCK_SIZE : parseSize(options.block_size);
  const metadata = FOOTER_SIZE + HEADER_SIZE + roundUp(blockCountFor(size, bs) * 4, SECTOR) + FOOTER_SIZE;
  const blocks = blocksWithData(nonZero, bs).length;
  return { fileSize: metadata + blocks * (bitmapBytes(bs) + bs), allocatedBytes: metadata + blocks * bitmapBytes(bs) + data };
}
