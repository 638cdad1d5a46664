import { FORMAT_EXTENSIONS } from '../extensions.js';
import type { FormatDescriptor } from '../types.js';
import { COMPRESSED_OPTIONS, QCOW2_CREATE_OPTIONS, createQcow2 } from './create.js';
import { DEFAULT_CLUSTER_SIZE, MIN_CLUSTER_SIZE } from './settings.js';
import { compactQcow2 } from './compact.js';
import { measureQcow2 } from './measure.js';
import { openQcow2 } from './open.js';
import { qcow2ReadFormat } from './read-format.js';
import { repairQcow2 } from './repair.js';
import { resizeQcow2 } from './resize.js';
import { qcow2SequentialWriter } from './stream.js';

/** The qcow2 format (QEMU, KVM, OpenStack, Proxmox): versions 2 and 3, with backing chains; reads compressed clusters, extended L2, data files and internal snapshots; writes uncompressed images and, with `convert -c`, compressed ones (zlib or zstd). */
export const qcow2Format: FormatDescriptor = {
  name: 'qcow2',
  summary: 'QEMU copy-on-write v2/v3: KVM, OpenStack, Proxmox, cloud images (reads compressed, extended L2, data files, snapshots; writes uncompressed or -c compressed, backing files)',
  extension: FORMAT_EXTENSIONS.qcow2,
  differencing: true,
  internalSnapshots: true,
  blockSizes: { min: MIN_CLUSTER_SIZE, default: DEFAULT_CLUSTER_SIZE },
  blockSizeOption: 'cluster_size',
  layoutFollowsData: () => true,
  frontToBackOnly: (options) => options.compressed === 'on',
  compressOptions: COMPRESSED_OPTIONS,
  probe: qcow2ReadFormat.probe,
  open: openQcow2,
  create: createQcow2,
  repair: repairQcow2,
  measure: measureQcow2,
  resize: resizeQcow2,
  compact: compactQcow2,
  sequentialWriter: qcow2SequentialWriter,
  createOptions: QCOW2_CREATE_OPTIONS,
};
