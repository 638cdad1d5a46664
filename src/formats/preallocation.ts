import { DiskImageError } from '../errors.js';
import type { ImageFile } from '../io/image-file.js';

/**
 * The `-o preallocation=off|full` option: `full` writes a file with every data
 * byte allocated (Hyper-V refuses NTFS-sparse image files, INTEROP-NOTES 18).
 * Only layouts whose data area is fixed can be preallocated.
 */
export function wantsPreallocation(options: Record<string, string>, fixedLayout: boolean, format: string): boolean {
  const v = options.preallocation ?? 'off';
  if (v !== 'off' && v !== 'full') throw new DiskImageError('USAGE', `preallocation must be off or full, not '${v}'`);
  if (v === 'full' && !fixedLayout) throw new DiskImageError('USAGE', `${format}: preallocation=full needs subformat=fixed`);
  return v === 'full';
}

/** Allocates [offset, offset+length) of a new file (fallocate, or zeros written). */
export async function preallocate(file: ImageFile, offset: number, length: number): Promise<void> {
  if (!file.allocate) throw new DiskImageError('UNSUPPORTED', `${file.path}: this file cannot be preallocated`);
  await file.allocate(offset, length);
}
