import { FORMAT_EXTENSIONS } from '../extensions.js';
import type { FormatDescriptor } from '../types.js';
import { WRITE_GRAIN_SECTORS, SECTOR } from './constants.js';
import { VMDK_CREATE_OPTIONS, createVmdk } from './create.js';
import { MIN_GRAIN } from './write-options.js';
import { openVmdk } from './open.js';
import { isVmdk } from './read-format.js';
import { repairVmdk } from './repair.js';
import { vmdkSequentialWriter } from './sequential.js';

/** The VMDK format (VMware): reads monolithic and split, sparse, flat and stream-optimized disks with delta chains; writes monolithic sparse disks and deltas, and stream-optimized ones front to back. */
export const vmdkFormat: FormatDescriptor = {
  name: 'vmdk',
  summary: 'VMware Virtual Machine Disk: Workstation, ESXi, OVF/OVA (reads sparse, flat, split, streamOptimized, vmfsSparse, deltas; writes monolithicSparse, deltas and streamOptimized)',
  extension: FORMAT_EXTENSIONS.vmdk,
  differencing: true,
  blockSizes: { min: MIN_GRAIN, default: WRITE_GRAIN_SECTORS * SECTOR },
  layoutFollowsData: () => true,
  probe: isVmdk,
  open: openVmdk,
  create: createVmdk,
  repair: repairVmdk,
  sequentialWriter: vmdkSequentialWriter,
  frontToBackOnly: (options) => options.subformat === 'streamOptimized',
  compressOptions: { subformat: 'streamOptimized' },
  createOptions: VMDK_CREATE_OPTIONS,
};
