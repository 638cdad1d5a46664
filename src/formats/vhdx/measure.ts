import { blocksWithData, spanBytes } from '../../util/spans.js';
import { roundUp } from '../../util/checked.js';
import { parseSize } from '../../util/sizes.js';
import type { Measurement } from '../types.js';
import { batGeometry } from './bat-geometry.js';
import { DEFAULT_BLOCK_SIZE, KiB64, MiB } from './constants.js';

/** Bytes create.ts writes before any data: identifier, two headers, two region tables, the metadata region. */
const METADATA_WRITTEN = KiB64 + 2 * 4096 + 2 * KiB64 + MiB;

/** Where create.ts puts the BAT; blocks follow it. */
const BAT_OFFSET = 3 * MiB;

/** The VHDX `convert` writes: 3 MiB of structures, the BAT, then one block per block holding a non-zero run (all blocks when fixed). */
export function measureVhdx(virtualSize: number, options: Record<string, string>, nonZero: { start: number; end: number }[]): Measurement {
  const logical = options.logical_sector_size === '4096' ? 4096 : 512;
  const size = roundUp(virtualSize, logical);
  const bs = options.block_size === undefined ? DEFAULT_BLOCK_SIZE : parseSize(options.block_size);
  const g = batGeometry(size, bs, logical, false);
  const batLength = roundUp(g.totalEntries * 8, MiB);
  const blocks = options.subformat === 'fixed' ? g.payloadBlocks : blocksWithData(nonZero, bs).length;
  const full = options.preallocation === 'full';
  return { fileSize: BAT_OFFSET + batLength + blocks * bs, allocatedBytes: METADATA_WRITTEN + batLength + (full ? blocks * bs : spanBytes(nonZero)) };
}
