import type { FormatDescriptor } from '../types.js';
import { DESCRIPTOR_SIGNATURE } from './constants.js';
import { hasSparseMagic } from './header.js';
import { openVmdk } from './open.js';

/** The VMDK format (VMware): read only, monolithic and split, sparse, flat and stream-optimized, with delta chains. */
export const vmdkFormat: FormatDescriptor = {
  name: 'vmdk',
  summary: 'VMware Virtual Machine Disk: Workstation, ESXi, OVF/OVA (read only: sparse, flat, split, streamOptimized, deltas)',
  extension: 'vmdk',
  differencing: false,
  probe: (head) => hasSparseMagic(head) || Buffer.from(head.subarray(0, DESCRIPTOR_SIGNATURE.length)).toString('latin1') === DESCRIPTOR_SIGNATURE,
  open: openVmdk,
};
