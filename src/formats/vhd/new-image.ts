import { DiskImageError } from '../../errors.js';
import type { ImageFile } from '../../io/image-file.js';
import { isPowerOfTwo, roundUp } from '../../util/checked.js';
import { parseSize } from '../../util/sizes.js';
import { parseUuid, randomUuid } from '../../util/uuid.js';
import { VHD_MAX_BAT_ENTRIES } from '../../limits.js';
import { preallocate, wantsPreallocation } from '../preallocation.js';
import type { CreateOptions } from '../types.js';
import { blockCountFor, encodeBat } from './bat.js';
import { DEFAULT_BLOCK_SIZE, DiskType, FOOTER_SIZE, HEADER_COOKIE, HEADER_SIZE, HEADER_VERSION, MAX_VIRTUAL_SIZE, NO_DATA_OFFSET, SECTOR } from './constants.js';
import { encodeDynamicHeader, encodeParentName, type HeaderFields, type LocatorEntry } from './dynamic-header.js';
import { encodeFooter, type FooterFields } from './footer.js';
import { newFooter } from './new-footer.js';
import { VhdLayer } from './reader.js';

/** Block sizes vdisk writes: powers of two from 512 KiB (Hyper-V's small choice) to 256 MiB. */
export const MIN_BLOCK = 512 * 1024;
const MAX_BLOCK = 256 * 1024 * 1024;

/** How a new VHD names its parent: the header fields and the locator payloads (parent-link.ts builds it; node-only). */
export interface VhdParentLink {
  fields: Pick<HeaderFields, 'parentUniqueId' | 'parentTimestamp' | 'parentUnicodeName'>;
  /** Bytes the locator payloads take, each padded to whole sectors. */
  bytes: number;
  /** Writes the payloads from `at` and returns the header entries pointing at them. */
  write(file: ImageFile, at: number): Promise<LocatorEntry[]>;
}

/** A new VHD, checked: its footer, type, block size (dynamic and differencing) and whether to preallocate. */
export interface VhdPlan {
  size: number;
  /** The footer's disk type (DiskType). */
  type: number;
  footer: FooterFields;
  blockSize: number;
  preallocate: boolean;
}

function blockSizeOption(text: string | undefined, virtualSize: number): number {
  const bs = text === undefined ? DEFAULT_BLOCK_SIZE : parseSize(text);
  if (!isPowerOfTwo(bs) || bs < MIN_BLOCK || bs > MAX_BLOCK) {
    throw new DiskImageError('USAGE', `VHD block_size must be a power of two from 512K to 256M, not ${text}`, { value: text });
  }
  if (blockCountFor(virtualSize, bs) > VHD_MAX_BAT_ENTRIES) throw new DiskImageError('USAGE', `block_size ${text} is too small for this disk size`);
  return bs;
}

/**
 * Checks the options of a new VHD (size, subformat, block size, a parent's
 * format and size) and returns what to write: fixed (data then footer),
 * dynamic, or, with a parent, differencing.
 */
export function planVhd(opts: CreateOptions): VhdPlan {
  const size = roundUp(opts.virtualSize, SECTOR);
  if (size <= 0) throw new DiskImageError('USAGE', 'VHD size must be positive');
  if (size > MAX_VIRTUAL_SIZE) {
    throw new DiskImageError('OUT_OF_RANGE', `VHD holds at most 2040 GiB (${MAX_VIRTUAL_SIZE} bytes), not ${size}; use VHDX for larger disks`, { value: size, limit: MAX_VIRTUAL_SIZE });
  }
  const parent = opts.parent?.layer;
  const sub = opts.options.subformat ?? 'dynamic';
  if (!parent && sub !== 'fixed' && sub !== 'dynamic') throw new DiskImageError('USAGE', `VHD subformat must be fixed or dynamic, not '${sub}'`);
  if (parent && !(parent instanceof VhdLayer)) throw new DiskImageError('UNSUPPORTED', `a differencing VHD needs a VHD parent, not ${parent.format}`);
  if (parent && parent.virtualSize !== size) {
    throw new DiskImageError('USAGE', `a differencing VHD has its parent's size (${parent.virtualSize}), not ${size}`);
  }
  const type = parent ? DiskType.differencing : sub === 'fixed' ? DiskType.fixed : DiskType.dynamic;
  return {
    size,
    type,
    footer: newFooter(size, type, (opts.uuid && parseUuid(opts.uuid)) || randomUuid()),
    blockSize: type === DiskType.fixed ? size : blockSizeOption(opts.options.block_size, size),
    preallocate: wantsPreallocation(opts.options, type === DiskType.fixed, 'vhd'),
  };
}

/** Writes the new VHD `plan` describes into the empty `file` (`link`: its parent, for a differencing VHD) and syncs it. */
export async function writeNewVhd(file: ImageFile, plan: VhdPlan, link?: VhdParentLink): Promise<void> {
  if (plan.type === DiskType.fixed) {
    await file.truncate(plan.size);
    if (plan.preallocate) await preallocate(file, 0, plan.size);
    await file.write(encodeFooter(plan.footer), plan.size);
  } else {
    await writeDynamicMetadata(file, plan.footer, plan.blockSize, link);
  }
  await file.sync();
}

async function writeDynamicMetadata(file: ImageFile, footer: FooterFields, blockSize: number, link?: VhdParentLink): Promise<void> {
  const size = Number(footer.currentSize);
  const entries = blockCountFor(size, blockSize);
  const tableOffset = FOOTER_SIZE + HEADER_SIZE;
  const batBytes = roundUp(entries * 4, SECTOR);
  const locatorsAt = tableOffset + batBytes;
  const locators = link ? await link.write(file, locatorsAt) : [];
  const header = encodeDynamicHeader(
    {
      cookie: HEADER_COOKIE,
      dataOffset: NO_DATA_OFFSET,
      tableOffset: BigInt(tableOffset),
      headerVersion: HEADER_VERSION,
      maxTableEntries: entries,
      blockSize,
      checksum: 0,
      ...(link ? link.fields : { parentUniqueId: new Uint8Array(16), parentTimestamp: 0, parentUnicodeName: encodeParentName('') }),
    },
    locators,
  );
  const encoded = encodeFooter(footer);
  await file.write(encoded, 0);
  await file.write(header, FOOTER_SIZE);
  await file.write(encodeBat(new Uint32Array(0), batBytes), tableOffset);
  await file.write(encoded, locatorsAt + (link?.bytes ?? 0));
}
