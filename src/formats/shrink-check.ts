import { DiskImageError } from '../errors.js';
import { ChainImage } from '../chain/chain-image.js';
import { readCompressed } from '../chain/decompress.js';
import type { Layer } from './layer.js';
import { firstNonZero } from './resize-common.js';

/**
 * Refuses a shrink that was not asked for (`--shrink`), or one whose cut range
 * [newSize, old size) holds a non-zero byte (USAGE, naming its guest offset).
 */
export async function checkShrink(layer: Layer, newSize: number, shrink: boolean | undefined): Promise<void> {
  const image = new ChainImage(layer, undefined, readCompressed);
  const old = image.virtualSize;
  if (newSize >= old) return;
  if (!shrink) {
    throw new DiskImageError('USAGE', `${image.path}: ${newSize} bytes is smaller than the disk (${old} bytes); shrinking needs --shrink`, { oldSize: old, newSize });
  }
  const at = await firstNonZero(image, newSize, old);
  if (at !== undefined) {
    throw new DiskImageError('USAGE', `${image.path}: cannot shrink to ${newSize} bytes: the range cut off holds data (first non-zero byte at guest offset ${at})`, {
      oldSize: old,
      newSize,
      offset: at,
    });
  }
}
