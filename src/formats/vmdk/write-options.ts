import { DiskImageError } from '../../errors.js';
import { isPowerOfTwo } from '../../util/checked.js';
import { parseSize } from '../../util/sizes.js';
import { SECTOR, WRITE_GRAIN_SECTORS } from './constants.js';

/** Subformats (createType values, "The Descriptor File") vdisk writes; the first is the default. */
export const WRITTEN_SUBFORMATS = ['monolithicSparse', 'streamOptimized', 'monolithicFlat', 'twoGbMaxExtentSparse', 'twoGbMaxExtentFlat'] as const;

/**
 * Grain sizes vdisk writes: powers of two from 64 KiB, what VMware writes
 * (the spec allows down to 16 sectors, "Hosted Sparse Extent Header",
 * grainSize), to 1 MiB.
 */
export const MIN_GRAIN = 64 * 1024;
const MAX_GRAIN = 1024 * 1024;

/** The `block_size` option as sectors per grain. */
export function grainOption(text: string | undefined): number {
  if (text === undefined) return WRITE_GRAIN_SECTORS;
  const bytes = parseSize(text);
  if (!isPowerOfTwo(bytes) || bytes < MIN_GRAIN || bytes > MAX_GRAIN) throw new DiskImageError('USAGE', `VMDK block_size (grain) must be a power of two from 64K to 1M, not ${text}`, { value: text });
  return bytes / SECTOR;
}

/** The subformat option: one vdisk writes (default monolithicSparse), else USAGE. */
export function subformatOption(options: Record<string, string>): (typeof WRITTEN_SUBFORMATS)[number] {
  const sub = options.subformat ?? WRITTEN_SUBFORMATS[0];
  const known = WRITTEN_SUBFORMATS.find((s) => s === sub);
  if (!known) throw new DiskImageError('USAGE', `VMDK subformat must be ${WRITTEN_SUBFORMATS.join(' or ')}, not '${sub}'`, { value: sub });
  return known;
}

