import { stat } from 'node:fs/promises';
import { requireLocal } from '../io/open-source.js';
import { DiskImageError, ioError } from '../errors.js';
import { detectFormat, formatByName, formatNames } from '../formats/registry.js';
import type { OpenOptions } from '../formats/types.js';

/** What `vdisk compact` did. */
export interface CompactResult {
  /** Allocated blocks found all-zero and dropped (raw: 64 KiB pieces made holes). */
  blocksDropped: number;
  /** File size before and after. */
  bytesBefore: number;
  bytesAfter: number;
  /** Bytes the file occupies on disk before and after (st_blocks x 512). */
  allocatedBefore: number;
  allocatedAfter: number;
}

async function sizes(path: string): Promise<{ size: number; allocated: number }> {
  try {
    const st = await stat(path);
    return { size: st.size, allocated: st.blocks * 512 };
  } catch (err) {
    throw ioError(err, path, 'open');
  }
}

/**
 * `vdisk compact IMAGE`: drops all-zero allocated blocks and gives their
 * space back, in place. Dynamic VHD and VHDX: blocks unmapped, the last
 * blocks moved into the holes, the file cut (it gets smaller). Raw: all-zero
 * 64 KiB pieces made holes (the file uses fewer blocks on disk; needs the
 * native helper). Fixed VHD/VHDX and differencing images are refused
 * (UNSUPPORTED). The guest view never changes, and every crash state reads
 * it (docs/resize-compact.md); children of a compacted image stay valid.
 */
export async function compact(path: string, opts: OpenOptions & { format?: string } = {}): Promise<CompactResult> {
  requireLocal(path, 'compacting');
  const name = opts.format ?? (await detectFormat(path));
  const format = formatByName(name);
  if (!format.compact) throw new DiskImageError('UNSUPPORTED', `compacting ${name} images is not supported (${formatNames((f) => f.compact !== undefined)} can); convert copies only the data, so converting to a new ${name} compacts it`, { format: name });
  const before = await sizes(path);
  const { blocksDropped } = await format.compact(path, opts);
  const after = await sizes(path);
  return { blocksDropped, bytesBefore: before.size, bytesAfter: after.size, allocatedBefore: before.allocated, allocatedAfter: after.allocated };
}
