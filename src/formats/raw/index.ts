import { FORMAT_EXTENSIONS } from '../extensions.js';
import { refuseForeign } from '../foreign.js';
import { spanBytes } from '../../util/spans.js';
import type { FormatDescriptor } from '../types.js';
import { RawLayer } from './raw-layer.js';
import { compactRaw, resizeRaw } from './resize.js';
import { rawSequentialWriter } from './stream.js';

/** Raw: any file is a raw image, so it is probed last; the probe refuses files of formats vdisk knows it does not read (formats/foreign.ts). */
export const rawFormat: FormatDescriptor = {
  name: 'raw',
  summary: 'the disk as a plain file or block device (sparse where the file system allows)',
  extension: FORMAT_EXTENSIONS.raw,
  differencing: false,
  pipeInput: true,
  probe: (head, tail) => {
    refuseForeign(head, tail);
    return true;
  },
  open: (path, options) => RawLayer.open(path, options.writable === true, options.openFile),
  create: (path, options) => RawLayer.create(path, options.virtualSize, options.options, options.openFile),
  measure: (virtualSize, options, nonZero) => ({ fileSize: virtualSize, allocatedBytes: options.preallocation === 'full' ? virtualSize : spanBytes(nonZero) }),
  sequentialWriter: rawSequentialWriter,
  resize: resizeRaw,
  compact: compactRaw,
  createOptions: ['preallocation'],
};
