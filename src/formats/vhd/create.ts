import { DiskImageError } from '../../errors.js';
import { openDiskFile } from '../../io/file.js';
import type { ImageFile } from '../../io/image-file.js';
import { isPowerOfTwo, roundUp } from '../../util/checked.js';
import { parseSize } from '../../util/sizes.js';
import { parseUuid, randomUuid } from '../../util/uuid.js';
import type { CreateOptions } from '../types.js';
import { blockCountFor, encodeBat } from './bat.js';
import { DEFAULT_BLOCK_SIZE, DiskType, FOOTER_SIZE, HEADER_COOKIE, HEADER_SIZE, HEADER_VERSION, MAX_VIRTUAL_SIZE, NO_DATA_OFFSET, SECTOR } from './constants.js';
import { encodeDynamicHeader, encodeParentName } from './dynamic-header.js';
import { newFooter } from './new-footer.js';
import { encodeFooter, type FooterFields } from './footer.js';
import { readVhdLayout } from './layout.js';
import { locatorBytes, parentHeaderFields, writeLocators } from './parent-link.js';
import { preallocate, wantsPreallocation } from '../preallocation.js';
import { VhdLayer } from './reader.js';
import { vhdParentRef } from './parent-ref.js';
import { WritableVhdLayer } from './writer.js';
import { VHD_MAX_BAT_ENTRIES } from '../../limits.js';

/** `-o` options `vdisk create -f vhd` accepts. */
export const VHD_CREATE_OPTIONS = ['subformat', 'block_size', 'preallocation'] as const;

/** Block sizes vdisk writes: powers of two from 512 KiB (Hyper-V's small choice) to 256 MiB. */
export const MIN_BLOCK = 512 * 1024;
const MAX_BLOCK = 256 * 1024 * 1024;

function blockSizeOption(text: string | undefined, virtualSize: number): number {
  const bs = text === undefined ? DEFAULT_BLOCK_SIZE : parseSize(text);
  if (!isPowerOfTwo(bs) || bs < MIN_BLOCK || bs > MAX_BLOCK) {
    throw new DiskImageError('USAGE', `VHD block_size must be a power of two from 512K to 256M, not ${text}`, { value: text });
  }
  if (blockCountFor(virtualSize, bs) > VHD_MAX_BAT_ENTRIES) throw new DiskImageError('USAGE', `block_size ${text} is too small for this disk size`);
  return bs;
}

/**
 * Creates a new VHD: fixed (data then footer), dynamic or, with a parent,
 * differencing (footer copy, header, BAT, locator data, footer). The file must
 * not exist. Returns the image open for writing.
 */
export async function createVhd(path: string, opts: CreateOptions): Promise<WritableVhdLayer> {
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
  const full = wantsPreallocation(opts.options, type === DiskType.fixed, 'vhd');
  const footer = newFooter(size, type, (opts.uuid && parseUuid(opts.uuid)) || randomUuid());
  const file = await (opts.openFile ?? openDiskFile)(path, 'create');
  try {
    if (type === DiskType.fixed) {
      await file.truncate(size);
      if (full) await preallocate(file, 0, size);
      await file.write(encodeFooter(footer), size);
    } else {
      await writeDynamicMetadata(file, footer, blockSizeOption(opts.options.block_size, size), parent);
    }
    await file.sync();
    const layout = await readVhdLayout(file);
    return new WritableVhdLayer(file, layout, vhdParentRef(layout));
  } catch (err) {
    await file.close();
    throw err;
  }
}

async function writeDynamicMetadata(file: ImageFile, footer: FooterFields, blockSize: number, parent?: VhdLayer): Promise<void> {
  const size = Number(footer.currentSize);
  const entries = blockCountFor(size, blockSize);
  const tableOffset = FOOTER_SIZE + HEADER_SIZE;
  const batBytes = roundUp(entries * 4, SECTOR);
  const locatorsAt = tableOffset + batBytes;
  const locators = parent ? await writeLocators(file, file.path, parent.path, locatorsAt) : [];
  const header = encodeDynamicHeader(
    {
      cookie: HEADER_COOKIE,
      dataOffset: NO_DATA_OFFSET,
      tableOffset: BigInt(tableOffset),
      headerVersion: HEADER_VERSION,
      maxTableEntries: entries,
      blockSize,
      checksum: 0,
      ...(parent ? parentHeaderFields(parent) : { parentUniqueId: new Uint8Array(16), parentTimestamp: 0, parentUnicodeName: encodeParentName('') }),
    },
    locators,
  );
  const encoded = encodeFooter(footer);
  await file.write(encoded, 0);
  await file.write(header, FOOTER_SIZE);
  await file.write(encodeBat(new Uint32Array(0), batBytes), tableOffset);
  await file.write(encoded, locatorsAt + (parent ? locatorBytes(file.path, parent.path) : 0));
}
