import { FORMAT_EXTENSIONS } from '../extensions.js';
import { openDiskFile } from '../../io/file.js';
import type { FormatDescriptor } from '../types.js';
import { DEFAULT_BLOCK_SIZE, MIN_BLOCK_SIZE } from './constants.js';
import { isVhdx, openVhdxLayer } from './read-format.js';
import { VhdxLayer } from './reader.js';
import { VHDX_CREATE_OPTIONS, createVhdx } from './create.js';
import { WritableVhdxLayer } from './writer.js';
import { measureVhdx } from './measure.js';
import { vhdxSequentialWriter } from './stream.js';
import { repairVhdx } from './repair.js';
import { resizeVhdx } from './resize.js';
import { compactVhdx } from './compact.js';

/** The VHDX format ([MS-VHDX]): Hyper-V's current format. */
export const vhdxFormat: FormatDescriptor = {
  name: 'vhdx',
  summary: 'Hyper-V virtual hard disk v2 (fixed, dynamic, differencing)',
  extension: FORMAT_EXTENSIONS.vhdx,
  differencing: true,
  blockSizes: { min: MIN_BLOCK_SIZE, default: DEFAULT_BLOCK_SIZE },
  sectorSizeOption: 'logical_sector_size',
  layoutFollowsData: () => true,
  probe: isVhdx,
  async open(path, options) {
    const file = await (options.openFile ?? openDiskFile)(path, options.writable ? 'write' : 'read');
    const writable = options.writable === true;
    return openVhdxLayer(path, file, writable, (layout, ref) => (writable ? new WritableVhdxLayer(path, layout, ref) : new VhdxLayer(path, layout, ref)));
  },
  create: createVhdx,
  repair: repairVhdx,
  resize: resizeVhdx,
  compact: compactVhdx,
  measure: measureVhdx,
  sequentialWriter: vhdxSequentialWriter,
  createOptions: VHDX_CREATE_OPTIONS,
};
