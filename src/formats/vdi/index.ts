import { FORMAT_EXTENSIONS } from '../extensions.js';
import { compactVdi } from './compact.js';
import { resizeVdi } from './resize.js';
import type { FormatDescriptor } from '../types.js';
import { VDI_CREATE_OPTIONS, createVdi } from './create.js';
import { MIN_WRITE_BLOCK } from './new-image.js';
import { DEFAULT_BLOCK_SIZE } from './constants.js';
import { measureVdi } from './measure.js';
import { openVdi } from './open.js';
import { vdiReadFormat } from './read-format.js';
import { vdiSequentialWriter } from './stream.js';

/** The VDI format (VirtualBox): dynamic, fixed and differencing images; reads versions 0.x and 1.1, writes 1.1. */
export const vdiFormat: FormatDescriptor = {
  name: 'vdi',
  summary: 'VirtualBox Disk Image: dynamic, fixed and differencing',
  extension: FORMAT_EXTENSIONS.vdi,
  differencing: true,
  blockSizes: { min: MIN_WRITE_BLOCK, default: DEFAULT_BLOCK_SIZE },
  probe: vdiReadFormat.probe,
  open: openVdi,
  create: createVdi,
  measure: measureVdi,
  sequentialWriter: vdiSequentialWriter,
  layoutFollowsData: (options) => options.subformat !== 'fixed',
  createOptions: VDI_CREATE_OPTIONS,
  resize: resizeVdi,
  compact: compactVdi,
};
