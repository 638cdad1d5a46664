import { DiskImageError } from '../../errors.js';
import { openDiskFile } from '../../io/file.js';
import { resolveParent } from '../../chain/resolve.js';
import { formatUuid, uuidEqual } from '../../util/uuid.js';
import type { ChainContext, DiskImage, FormatDescriptor, OpenOptions } from '../types.js';
import { FOOTER_SIZE } from './constants.js';
import { VHD_CREATE_OPTIONS, createVhd } from './create.js';
import { hasFooterCookie } from './footer.js';
import { readVhdLayout, type VhdLayout } from './layout.js';
import { parentCandidates } from './parent-locator.js';
import { VhdImage } from './reader.js';
import { repairVhd } from './repair.js';
import { WritableVhd } from './writer.js';

/** Finds, opens and verifies the parent of a differencing VHD. */
async function openParent(path: string, layout: VhdLayout, options: OpenOptions, chain: ChainContext): Promise<DiskImage> {
  const header = layout.header!;
  const want = header.fields.parentUniqueId;
  const found = resolveParent(parentCandidates(layout.locators, header.parentName), {
    childPath: path,
    parentDirs: options.parentDirs ?? [],
    visited: chain.visited,
    depth: chain.depth + 1,
    expected: `UUID ${formatUuid(want)} (name '${header.parentName}')`,
  });
  const parent = await chain.openParent(found);
  try {
    const got = parent instanceof VhdImage ? parent.layout.footer.fields.uniqueId : undefined;
    if (!got || !uuidEqual(got, want)) {
      const msg = `${path}: parent ${found} has UUID ${got ? formatUuid(got) : `none (${parent.format})`}, the child expects ${formatUuid(want)}`;
      if (!options.ignoreParentUuid) throw new DiskImageError('PARENT', `${msg} (--ignore-parent-uuid to open anyway)`, { expected: formatUuid(want), path: found });
      options.onWarning?.(msg);
    }
    if (parent.virtualSize !== layout.virtualSize) {
      throw new DiskImageError('PARENT', `${path}: parent ${found} is ${parent.virtualSize} bytes, the child ${layout.virtualSize}`, { path: found });
    }
  } catch (err) {
    await parent.close();
    throw err;
  }
  return parent;
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
  repair: repairVhd,
  createOptions: VHD_CREATE_OPTIONS,
};
