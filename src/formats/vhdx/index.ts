import { openDiskFile } from '../../io/file.js';
import type { FormatDescriptor } from '../types.js';
import { DEFAULT_BLOCK_SIZE, FILE_SIGNATURE, MIN_BLOCK_SIZE } from './constants.js';
import { readVhdxLayout } from './layout.js';
import { vhdxParentRef } from './parent-ref.js';
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
  extension: 'vhdx',
  differencing: true,
  blockSizes: { min: MIN_BLOCK_SIZE, default: DEFAULT_BLOCK_SIZE },
  layoutFollowsData: () => true,
  probe: (head) => head.length >= 8 && Buffer.from(head.subarray(0, 8)).toString('latin1') === FILE_SIGNATURE,
  async open(path, options) {
    const file = await (options.openFile ?? openDiskFile)(path, options.writable ? 'write' : 'read');
    try {
      const layout = await readVhdxLayout(file, options.writable === true);
      const ref = vhdxParentRef(path, layout);
      return options.writable ? new WritableVhdxLayer(path, layout, ref) : new VhdxLayer(path, layout, ref);
    } catch (err) {
      await file.close();
      throw err;
    }
  },
  create: createVhdx,
  repair: repairVhdx,
  resize: resizeVhdx,
  compact: compactVhdx,
  measure: measureVhdx,
  sequentialWriter: vhdxSequentialWriter,
  createOptions: VHDX_CREATE_OPTIONS,
};
