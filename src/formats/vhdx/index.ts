import { openMatchingParent } from '../../chain/open-parent.js';
import { DiskImageError } from '../../errors.js';
import { openDiskFile } from '../../io/file.js';
import { formatGuidBraced, parseGuid } from '../../util/guid.js';
import { uuidEqual } from '../../util/uuid.js';
import type { ChainContext, DiskImage, FormatDescriptor, OpenOptions } from '../types.js';
import { FILE_SIGNATURE } from './constants.js';
import { readVhdxLayout, type VhdxLayout } from './layout.js';
import { vhdxParentCandidates } from './parent-locator.js';
import { VhdxImage } from './reader.js';
import { VHDX_CREATE_OPTIONS, createVhdx } from './create.js';
import { WritableVhdx } from './writer.js';
import { measureVhdx } from './measure.js';
import { vhdxStreamPlan } from './stream.js';
import { repairVhdx } from './repair.js';
import { resizeVhdx } from './resize.js';
import { compactVhdx } from './compact.js';

/** The DataWriteGuid of a VHDX layer, which children record as parent_linkage (2.6.2.6). */
function dataWriteGuid(image: DiskImage): Uint8Array | undefined {
  return image instanceof VhdxImage ? image.layout.header.fields.dataWriteGuid : undefined;
}

/** Finds, opens and verifies the parent of a differencing VHDX by its parent_linkage (or parent_linkage2). */
function openParent(path: string, layout: VhdxLayout, options: OpenOptions, chain: ChainContext): Promise<DiskImage> {
  const locator = layout.metadata.parentLocator!;
  const linkage = [locator.get('parent_linkage'), locator.get('parent_linkage2')].flatMap((t) => (t && parseGuid(t) ? [parseGuid(t)!] : []));
  if (linkage.length === 0) throw new DiskImageError('CORRUPT', `${path}: VHDX parent locator has no valid parent_linkage GUID`, { field: 'parent_linkage' });
  return openMatchingParent(
    path,
    vhdxParentCandidates(locator),
    {
      expected: `parent linkage ${formatGuidBraced(linkage[0]!)} (DataWriteGuid)`,
      identityOf: (p) => {
        const g = dataWriteGuid(p);
        return g && `DataWriteGuid ${formatGuidBraced(g)}`;
      },
      matches: (p) => {
        const g = dataWriteGuid(p);
        return g !== undefined && linkage.some((l) => uuidEqual(l, g));
      },
      virtualSize: layout.metadata.virtualSize,
    },
    options,
    chain,
  );
}

/** The VHDX format ([MS-VHDX]): Hyper-V's current format. */
export const vhdxFormat: FormatDescriptor = {
  name: 'vhdx',
  probe: (head) => head.length >= 8 && Buffer.from(head.subarray(0, 8)).toString('latin1') === FILE_SIGNATURE,
  async open(path, options, chain) {
    const file = await (options.openFile ?? openDiskFile)(path, options.writable ? 'write' : 'read');
    try {
      const layout = await readVhdxLayout(file, options.writable === true);
      for (const w of layout.warnings) options.onWarning?.(`${path}: ${w}`);
      const parent = layout.metadata.hasParent ? await openParent(path, layout, options, chain) : undefined;
      return options.writable ? new WritableVhdx(path, layout, parent) : new VhdxImage(path, layout, parent);
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
  streamPlan: vhdxStreamPlan,
  createOptions: VHDX_CREATE_OPTIONS,
};
