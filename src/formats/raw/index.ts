import { spanBytes } from '../../engine/scan.js';
import type { FormatDescriptor } from '../types.js';
import { RawImage } from './image.js';
import { compactRaw, resizeRaw } from './resize.js';

/** Raw: any file is a raw image, so it is probed last. */
export const rawFormat: FormatDescriptor = {
  name: 'raw',
  probe: () => true,
  open: (path, options) => RawImage.open(path, options.writable === true, options.openFile),
  create: (path, options) => RawImage.create(path, options.virtualSize, options.options, options.openFile),
  measure: (virtualSize, options, nonZero) => ({ fileSize: virtualSize, allocatedBytes: options.preallocation === 'full' ? virtualSize : spanBytes(nonZero) }),
  streamPlan: (image) => [{ guest: { offset: 0, length: image.virtualSize } }],
  resize: resizeRaw,
  compact: compactRaw,
  createOptions: ['preallocation'],
};
