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

/** The UUID of a VHD layer (undefined for other formats). */
function vhdUuid(image: DiskImage): Uint8Array | undefined {
  return image instanceof VhdImage ? image.layout.footer.fields.uniqueId : undefined;
}

/**
 * Finds, opens and verifies the parent of a differencing VHD: the first
 * candidate file whose UUID matches the child's record (any found file with
 * `ignoreParentUuid`), of the child's size.
 */
async function openParent(path: string, layout: VhdLayout, options: OpenOptions, chain: ChainContext): Promise<DiskImage> {
  const header = layout.header!;
  const want = header.fields.parentUniqueId;
  const ctx = {
    childPath: path,
    parentDirs: options.parentDirs ?? [],
    visited: chain.visited,
    depth: chain.depth + 1,
    expected: `UUID ${formatUuid(want)} (name '${header.parentName}')`,
  };
  const mismatched: string[] = [];
  for (const found of resolveParent(parentCandidates(layout.locators, header.parentName), ctx)) {
    let parent: DiskImage;
    try {
      parent = await chain.openParent(found);
    } catch (err) {
      chain.visited.delete(found);
      if (!(err instanceof DiskImageError) || err.code === 'IO') throw err;
      mismatched.push(`${found} (${err.message})`);
      continue;
    }
    const got = vhdUuid(parent);
    if (got && uuidEqual(got, want)) return checkParentSize(path, layout, parent, found);
    mismatched.push(`${found} (UUID ${got ? formatUuid(got) : `none, ${parent.format}`})`);
    if (options.ignoreParentUuid) {
      options.onWarning?.(`${path}: parent ${found} has UUID ${got ? formatUuid(got) : 'none'}, the child expects ${formatUuid(want)}; opening anyway`);
      return checkParentSize(path, layout, parent, found);
    }
    chain.visited.delete(found);
    await parent.close();
  }
  throw new DiskImageError('PARENT', `${path}: no parent with ${ctx.expected}; found only ${mismatched.join('; ')} (--ignore-parent-uuid to open anyway)`, {
    expected: formatUuid(want),
    found: mismatched,
  });
}

async function checkParentSize(path: string, layout: VhdLayout, parent: DiskImage, found: string): Promise<DiskImage> {
  if (parent.virtualSize === layout.virtualSize) return parent;
  await parent.close();
  throw new DiskImageError('PARENT', `${path}: parent ${found} is ${parent.virtualSize} bytes, the child ${layout.virtualSize}`, { path: found });
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
