import type { FormatDescriptor } from '../types.js';
import { COWD_MAGIC_TEXT, DESCRIPTOR_SIGNATURE } from './constants.js';
import { hasSparseMagic } from './header.js';
import { openVmdk } from './open.js';

/** The VMDK format (VMware): read only, monolithic and split, sparse, flat and stream-optimized, with delta chains. */
export const vmdkFormat: FormatDescriptor = {
  name: 'vmdk',
  summary: 'VMware Virtual Machine Disk: Workstation, ESXi, OVF/OVA (read only: sparse, flat, split, streamOptimized, vmfsSparse, deltas)',
  extension: 'vmdk',
  differencing: false,
  probe: (head) => {
    const text = Buffer.from(head.subarray(0, DESCRIPTOR_SIGNATURE.length)).toString('latin1');
    return hasSparseMagic(head) || text.startsWith(COWD_MAGIC_TEXT) || text === DESCRIPTOR_SIGNATURE;
  },
  open: openVmdk,
};
