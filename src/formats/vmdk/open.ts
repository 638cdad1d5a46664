import { resolveBeside } from '../../chain/resolve.js';
import { DiskImageError } from '../../errors.js';
import { openSource } from '../../io/open-source.js';
import type { OpenOptions } from '../types.js';
import { HEADER_SIZE } from './constants.js';
import { closeExtents, type VmdkParts } from './extents.js';
import { openVmdkParts } from './read-format.js';
import { VmdkLayer } from './reader.js';
import { WritableVmdkLayer } from './writer.js';

/**
 * Checks every sparse extent can be written in place: uncompressed, its
 * primary directory intact, and every grain table present in each
 * directory (so writes change table entries only). UNSUPPORTED or CORRUPT
 * otherwise.
 */
async function assertWritable(parts: VmdkParts): Promise<void> {
  for (const e of parts.extents) {
    if (e.kind !== 'sparse') continue;
    const { sparse } = e;
    const refuse = (why: string) => new DiskImageError('UNSUPPORTED', `${e.file.path}: vdisk cannot write into this VMDK extent: ${why}`, { path: e.file.path });
    if (sparse.header.compressed) throw refuse('its grains are compressed (streamOptimized is written front to back by convert)');
    if (sparse.header.headerBytes !== HEADER_SIZE) throw refuse('it is an ESX (COWD) sparse extent');
    if (!sparse.primary) throw new DiskImageError('CORRUPT', `${e.file.path}: the grain directory is damaged; run vdisk check --repair first`, { path: e.file.path });
    for (const d of [sparse.primary, sparse.redundant]) {
      for (let g = 0; d && g < d.entries; g++) if ((await d.tableSector(g)) === 0) throw refuse(`its ${d.name} lacks grain table ${g}`);
    }
  }
}

/**
 * Opens one VMDK layer: a sparse file with its embedded descriptor, or a
 * descriptor file and its extents (read-format.ts). Writable
 * (WritableVmdkLayer): flat extents, and sparse extents read through a
 * source that reaches as far as their writer has allocated; `fresh` when the
 * disk was just created (its first change then keeps its content IDs and
 * uncleanShutdown).
 */
export async function openVmdk(path: string, options: OpenOptions, fresh = false): Promise<VmdkLayer> {
  const openFile = options.openFile ?? openSource;
  const writable = options.writable === true;
  const { parts, ref } = await openVmdkParts(path, await openFile(path, writable ? 'write' : 'read'), { openFile, resolveBeside: options.resolveBeside ?? resolveBeside }, writable);
  if (!writable) return new VmdkLayer(parts, ref);
  try {
    await assertWritable(parts);
    return new WritableVmdkLayer(parts, ref, openFile, fresh);
  } catch (err) {
    await closeExtents(parts.extents);
    throw err;
  }
}
