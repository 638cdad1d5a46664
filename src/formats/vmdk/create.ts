import { basename } from 'node:path';
import { DiskImageError } from '../../errors.js';
import { openDiskFile } from '../../io/file.js';
import { isPowerOfTwo } from '../../util/checked.js';
import { parseSize } from '../../util/sizes.js';
import type { CreateOptions } from '../types.js';
import { EMBEDDED_DESCRIPTOR_SECTORS, SECTOR, WRITE_GRAIN_SECTORS } from './constants.js';
import { descriptorSectors, newDescriptor, parentHint, type DescriptorFields } from './descriptor-writer.js';
import { createExtentFiles } from './create-extents.js';
import { openVmdk } from './open.js';
import { VmdkLayer } from './reader.js';
import { writeEmptySparse } from './sparse-layout.js';
import type { WritableVmdkLayer } from './writer.js';

/** `-o` options `vdisk create -f vmdk` and `convert -O vmdk` accept. */
export const VMDK_CREATE_OPTIONS = ['subformat', 'adapter_type', 'hwversion', 'block_size'] as const;

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

/** The delta fields of a child of `parent`: its CID, and its path relative to the child's directory ("The Descriptor File", parentCID, parentFileNameHint). */
function parentFields(childPath: string, parent: VmdkLayer): Pick<DescriptorFields, 'parentCid' | 'parentFileNameHint'> {
  if (parent.cid === undefined) throw new DiskImageError('UNSUPPORTED', `${parent.path} has no descriptor (no CID) for a VMDK delta to name`, { path: parent.path });
  return { parentCid: parent.cid, parentFileNameHint: parentHint(childPath, parent.path) };
}

/**
 * Creates a new VMDK at `path` (which must not exist) and reopens it for
 * writing: monolithicSparse (header, embedded descriptor, both directories
 * with every grain table; with a parent, a delta with parentCID and
 * parentFileNameHint of the parent's size), or a descriptor file with
 * monolithicFlat's, twoGbMaxExtentSparse's or twoGbMaxExtentFlat's extent files beside it.
 * streamOptimized is written front to back only (convert).
 */
export async function createVmdk(path: string, opts: CreateOptions): Promise<WritableVmdkLayer> {
  const sub = subformatOption(opts.options);
  if (sub === 'streamOptimized') {
    throw new DiskImageError('USAGE', `a ${sub} VMDK is written front to back: make it with vdisk convert -O vmdk -o subformat=${sub}`, { value: sub });
  }
  const parent = opts.parent?.layer;
  if (parent && sub !== 'monolithicSparse') throw new DiskImageError('USAGE', `vdisk writes VMDK deltas as monolithicSparse, not ${sub}`, { value: sub });
  if (parent && !(parent instanceof VmdkLayer)) throw new DiskImageError('UNSUPPORTED', `a VMDK delta needs a VMDK parent, not ${parent.format}`);
  if (parent && parent.virtualSize !== opts.virtualSize) throw new DiskImageError('USAGE', `a VMDK delta has its parent's size (${parent.virtualSize}), not ${opts.virtualSize}`);
  const sectors = Math.ceil(opts.virtualSize / SECTOR);
  if (sectors <= 0) throw new DiskImageError('USAGE', 'VMDK size must be positive');
  const grainSize = grainOption(opts.options.block_size);
  const openFile = opts.openFile ?? openDiskFile;
  if (sub !== 'monolithicSparse') {
    await createExtentFiles(path, opts.finalPath ?? path, sub, sectors, grainSize, opts.options, openFile, opts.uuid);
    return (await openVmdk(path, { writable: true, openFile }, true)) as WritableVmdkLayer;
  }
  const name = basename(opts.finalPath ?? path);
  const fields = newDescriptor(sub, sectors, [{ sectors, type: 'SPARSE', file: name }], opts.options, opts.uuid);
  const descriptor = { ...fields, ...(parent && parentFields(opts.finalPath ?? path, parent)) };
  const file = await openFile(path, 'create');
  try {
    await writeEmptySparse(file, sectors, grainSize, descriptorSectors(descriptor, EMBEDDED_DESCRIPTOR_SECTORS));
    await file.sync();
  } finally {
    await file.close();
  }
  return (await openVmdk(path, { writable: true, openFile }, true)) as WritableVmdkLayer;
}
