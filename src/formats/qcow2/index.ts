import type { FormatDescriptor } from '../types.js';
import { hasQcow2Magic } from './header.js';
import { openQcow2 } from './open.js';

/** The qcow2 format (QEMU, KVM, OpenStack, Proxmox): read only for now, versions 2 and 3, with backing chains and external data files. */
export const qcow2Format: FormatDescriptor = {
  name: 'qcow2',
  summary: 'QEMU copy-on-write v2/v3: KVM, OpenStack, Proxmox, cloud images (read only: compressed, extended L2, backing files, data files)',
  extension: 'qcow2',
  differencing: false,
  internalSnapshots: true,
  probe: (head) => hasQcow2Magic(head),
  open: openQcow2,
};
