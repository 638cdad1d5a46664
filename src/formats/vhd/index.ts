import { DiskImageError } from '../../errors.js';
import { openDiskFile } from '../../io/file.js';
import { openMatchingParent } from '../../chain/open-parent.js';
import { formatUuid, uuidEqual } from '../../util/uuid.js';
import type { ChainContext, DiskImage, FormatDescriptor, OpenOptions } from '../types.js';
import { FOOTER_SIZE } from './constants.js';
import { VHD_CREATE_OPTIONS, createVhd } from './create.js';
import { hasFooterCookie } from './footer.js';
import { readVhdLayout, type VhdLayout } from './layout.js';
import { parentCandidates } from './parent-locator.js';
import { VhdImage } from './reader.js';
import { repairVhd } from './repair.js';
import { measureVhd } from './measure.js';
import { vhdStreamPlan } from './stream.js';
import { WritableVhd } from './writer.js';
import { resizeVhd } from './resize.js';
import { compactVhd } from './compact.js';

/** The UUID of a VHD layer (undefined for other formats). */
function vhdUuid(image: DiskImage): Uint8Array | undefined {
  return image instanceof VhdImage ? image.layout.footer.fields.uniqueId : undefined;
}

/** Finds, opens and verifies the parent of a differencing VHD by its UUID. */
function openParent(path: string, layout: VhdLayout, options: OpenOptions, chain: ChainContext): Promise<DiskImage> {
  const header = layout.header!;
  const want = header.fields.parentUniqueId;
  return openMatchingParent(
    path,
    parentCandidates(layout.locators, header.parentName),
    {
      expected: `UUID ${formatUuid(want)} (name '${header.parentName}')`,
      identityOf: (p) => {
        const got = vhdUuid(p);
        return got && `UUID ${formatUuid(got)}`;
      },
      matches: (p) => {
        const got = vhdUuid(p);
        return got !== undefined && uuidEqual(got, want);
      },
      virtualSize: layout.virtualSize,
    },
    options,
    chain,
  );
}

/** The VHD format: Microsoft Virtual Hard Disk, fixed, dynamic and differencing. */
export const vhdFormat: FormatDescriptor = {
  name: 'vhd',
  probe: (head, tail) => hasFooterCookie(tail) || hasFooterCookie(head),
  async open(path, options, chain) {
    const file = await (options.openFile ?? openDiskFile)(path, options.writable ? 'write' : 'read');
    try {
      if (file.size < FOOTER_SIZE) throw new DiskImageError('INVALID_FORMAT', `${path}: ${file.size} bytes is too small for a VHD`);
      const layout = await readVhdLayout(file);
      for (const w of layout.warnings) options.onWarning?.(`${path}: ${w}`);
      const parent = layout.footer.diskType === 'differencing' ? await openParent(path, layout, options, chain) : undefined;
      return options.writable ? new WritableVhd(file, layout, parent) : new VhdImage(file, layout, parent);
    } catch (err) {
      await file.close();
      throw err;
    }
  },
  create: createVhd,
  measure: measureVhd,
  streamPlan: vhdStreamPlan,
  repair: repairVhd,
  resize: resizeVhd,
  compact: compactVhd,
  createOptions: VHD_CREATE_OPTIONS,
};
