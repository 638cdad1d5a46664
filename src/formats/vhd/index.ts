import { FORMAT_EXTENSIONS } from '../extensions.js';
import { openDiskFile } from '../../io/file.js';
import type { FormatDescriptor } from '../types.js';
import { DEFAULT_BLOCK_SIZE } from './constants.js';
import { VHD_CREATE_OPTIONS, createVhd } from './create.js';
import { MIN_BLOCK } from './new-image.js';
import { openVhdLayer, vhdReadFormat } from './read-format.js';
import { VhdLayer } from './reader.js';
import { repairVhd } from './repair.js';
import { measureVhd } from './measure.js';
import { vhdSequentialWriter } from './stream.js';
import { WritableVhdLayer } from './writer.js';
import { resizeVhd } from './resize.js';
import { compactVhd } from './compact.js';

/** The VHD format: Microsoft Virtual Hard Disk, fixed, dynamic and differencing. */
export const vhdFormat: FormatDescriptor = {
  name: 'vhd',
  summary: 'Virtual Hard Disk: Virtual Server, Hyper-V, Xen, Azure (fixed, dynamic, differencing)',
  extension: FORMAT_EXTENSIONS.vhd,
  differencing: true,
  blockSizes: { min: MIN_BLOCK, default: DEFAULT_BLOCK_SIZE },
  pipeInput: true,
  layoutFollowsData: (options) => options.subformat !== 'fixed',
  probe: vhdReadFormat.probe,
  async open(path, options) {
    const file = await (options.openFile ?? openDiskFile)(path, options.writable ? 'write' : 'read');
    return openVhdLayer(path, file, (f, layout, ref) => (options.writable ? new WritableVhdLayer(f, layout, ref) : new VhdLayer(f, layout, ref)));
  },
  create: createVhd,
  measure: measureVhd,
  sequentialWriter: vhdSequentialWriter,
  repair: repairVhd,
  resize: resizeVhd,
  compact: compactVhd,
  createOptions: VHD_CREATE_OPTIONS,
};
