import { requireLocal } from '../io/open-source.js';
import { DiskImageError } from '../errors.js';
import { detectFormat, formatByName, formatNames } from '../formats/registry.js';
import type { ResizeOptions, ResizeResult } from '../formats/types.js';

export type { ResizeOptions, ResizeResult } from '../formats/types.js';

/**
 * `vdisk resize [--shrink] IMAGE SIZE`: changes the virtual size in place.
 * `newSize` is rounded up to the format's unit (VHD: 512 bytes; VHDX: the
 * logical sector; raw: exact). Growing adds zeros; shrinking needs `shrink`
 * (else USAGE) and a cut range [newSize, old size) that holds no non-zero byte
 * (else USAGE naming the first one's offset). Differencing images are refused
 * (UNSUPPORTED): a child keeps its parent's size. Children of a resized image
 * no longer match its size and stop opening (vdisk cannot find them: nothing
 * in a parent names its children). Writes are ordered so that a crash leaves
 * the old or the new contents, and running the same resize again finishes
 * (docs/resize-compact.md).
 */
export async function resize(path: string, newSize: number, opts: ResizeOptions & { format?: string } = {}): Promise<ResizeResult> {
  requireLocal(path, 'resizing');
  const name = opts.format ?? (await detectFormat(path));
  const format = formatByName(name);
  if (!format.resize) throw new DiskImageError('UNSUPPORTED', `resizing ${name} images is not supported (${formatNames((f) => f.resize !== undefined)} can: convert to one of those, resize it, and convert back)`, { format: name });
  return format.resize(path, newSize, opts);
}
