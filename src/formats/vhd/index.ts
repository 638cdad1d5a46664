import { DiskImageError } from '../../errors.js';
import { openDiskFile } from '../../io/file.js';
import type { FormatDescriptor } from '../types.js';
import { DEFAULT_BLOCK_SIZE, FOOTER_SIZE } from './constants.js';
import { MIN_BLOCK, VHD_CREATE_OPTIONS, createVhd } from './create.js';
import { hasFooterCookie } from './footer.js';
import { readVhdLayout } from './layout.js';
import { vhdParentRef } from './parent-ref.js';
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
  extension: 'vhd',
  differencing: true,
  blockSizes: { min: MIN_BLOCK, default: DEFAULT_BLOCK_SIZE },
  pipeInput: true,
  layoutFollowsData: (options) => options.subformat !== 'fixed',
  probe: (head, tail) => hasFooterCookie(tail) || hasFooterCookie(head),
  async open(path, options) {
    const file = await (options.openFile ?? openDiskFile)(path, options.writable ? 'write' : 'read');
    try {
      if (file.size < FOOTER_SIZE) throw new DiskImageError('INVALID_FORMAT', `${path}: ${file.size} bytes is too small for a VHD`);
      const layout = await readVhdLayout(file);
      const ref = vhdParentRef(layout);
      return options.writable ? new WritableVhdLayer(file, layout, ref) : new VhdLayer(file, layout, ref);
    } catch (err) {
      await file.close();
      throw err;
    }
  },
  create: createVhd,
  measure: measureVhd,
  sequentialWriter: vhdSequentialWriter,
  repair: repairVhd,
  resize: resizeVhd,
  compact: compactVhd,
  createOptions: VHD_CREATE_OPTIONS,
};
