import { basename } from 'node:path';
import { DiskImageError } from '../../errors.js';
import { openDiskFile } from '../../io/file.js';
import type { CreateOptions } from '../types.js';
import { EMBEDDED_DESCRIPTOR_SECTORS, SECTOR } from './constants.js';
import { descriptorSectors, newDescriptor, type DescriptorFields } from './descriptor-writer.js';
import { parentHint } from './parent-hint.js';
import { createExtentFiles } from './create-extents.js';
import { openVmdk } from './open.js';
import { VmdkLayer } from './reader.js';
import { writeEmptySparse } from './sparse-layout.js';
import type { WritableVmdkLayer } from './writer.js';
import { grainOption, subformatOption } from './write-options.js';

/** `-o` options `vdisk create -f vmdk` and `convert -O vmdk` accept. */
export const VMDK_CREATE_OPTIONS = ['subformat', 'adapter_type', 'hwversion', 'block_size'] as const;

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
