import { DiskImageError } from '../../errors.js';
import type { ImageFile } from '../../io/image-file.js';
import { isPowerOfTwo, u64ToNumber } from '../../util/checked.js';
import { formatGuid } from '../../util/guid.js';
import { uuidEqual } from '../../util/uuid.js';
import { HAS_PARENT, Item, KiB64, LEAVE_BLOCKS_ALLOCATED, MAX_BLOCK_SIZE, MAX_METADATA_ENTRIES, MAX_VIRTUAL_SIZE, METADATA_SIGNATURE, MIN_BLOCK_SIZE } from './constants.js';
import { decodeParentLocator } from './parent-locator.js';
import type { Region } from './region-table.js';
import { limitNote, VHDX_MAX_LOCATOR_ITEM } from '../../limits.js';

/** The metadata items vdisk needs, validated (2.6.2). */
export interface VhdxMetadata {
  blockSize: number;
  leaveBlocksAllocated: boolean;
  hasParent: boolean;
  virtualSize: number;
  /** Page 83 data: the virtual disk's identifier. */
  diskId: Uint8Array;
  logicalSectorSize: number;
  physicalSectorSize: number;
  /** Parent locator key/value pairs (differencing disks). */
  parentLocator?: Map<string, string>;
}

/** One metadata table entry (2.6.1.2). */
export interface MetadataEntry {
  itemId: Uint8Array;
  offset: number;
  length: number;
  isUser: boolean;
  isVirtualDisk: boolean;
  isRequired: boolean;
}


/** Exact sizes of the fixed-size known items. */
const ITEM_SIZES: [Uint8Array, number][] = [
  [Item.fileParameters, 8],
  [Item.virtualDiskSize, 8],
  [Item.page83Data, 16],
  [Item.logicalSectorSize, 4],
  [Item.physicalSectorSize, 4],
];

/** Decodes the metadata table at the start of the metadata region. */
export function decodeMetadataTable(buf: Uint8Array, region: Region): MetadataEntry[] {
  const view = new DataView(buf.buffer, buf.byteOffset, KiB64);
  if (Buffer.from(buf.subarray(0, 8)).toString('latin1') !== METADATA_SIGNATURE) {
    throw new DiskImageError('CORRUPT', `VHDX metadata table at ${region.offset} has no 'metadata' signature`);
  }
  const count = view.getUint16(10, true);
  if (count > MAX_METADATA_ENTRIES) throw new DiskImageError('CORRUPT', `VHDX metadata table has ${count} entries (at most ${MAX_METADATA_ENTRIES})`, { value: count });
  const out: MetadataEntry[] = [];
  for (let i = 0; i < count; i++) {
    const at = 32 + i * 32;
    const flags = view.getUint32(at + 24, true);
    const e: MetadataEntry = {
      itemId: buf.slice(at, at + 16),
      offset: view.getUint32(at + 16, true),
      length: view.getUint32(at + 20, true),
      isUser: (flags & 1) !== 0,
      isVirtualDisk: (flags & 2) !== 0,
      isRequired: (flags & 4) !== 0,
    };
    if (e.length > 0 && (e.offset < KiB64 || e.offset + e.length > region.length)) {
      throw new DiskImageError('CORRUPT', `VHDX metadata item ${formatGuid(e.itemId)} at ${e.offset} (length ${e.length}) lies outside the metadata region (${region.length} bytes)`, {
        item: formatGuid(e.itemId),
        offset: e.offset,
        length: e.length,
      });
    }
    out.push(e);
  }
  return out;
}

/** Reads and validates the metadata items of the region. */
export async function readMetadata(file: ImageFile, region: Region): Promise<VhdxMetadata> {
  const table = new Uint8Array(KiB64);
  await file.read(table, region.offset);
  const entries = decodeMetadataTable(table, region);
  const find = (id: Uint8Array) => entries.find((e) => uuidEqual(e.itemId, id));
  for (const e of entries) {
    const known = Object.values(Item).some((id) => uuidEqual(id, e.itemId));
    if (e.isRequired && !known) throw new DiskImageError('UNSUPPORTED', `VHDX requires metadata item ${formatGuid(e.itemId)}, which vdisk does not know`);
    const size = ITEM_SIZES.find(([id]) => uuidEqual(id, e.itemId))?.[1];
    if (size !== undefined && e.length !== size) {
      throw new DiskImageError('CORRUPT', `VHDX metadata item ${formatGuid(e.itemId)} is ${e.length} bytes, expected ${size}`, { item: formatGuid(e.itemId), length: e.length });
    }
  }
  const read = async (id: Uint8Array, name: string, optional = false): Promise<DataView | undefined> => {
    const e = find(id);
    if (!e) {
      if (optional) return undefined;
      throw new DiskImageError('CORRUPT', `VHDX metadata lacks the ${name} item`, { item: name });
    }
    if (id === Item.parentLocator && e.length > VHDX_MAX_LOCATOR_ITEM) throw new DiskImageError('CORRUPT', `VHDX parent locator is ${e.length} bytes (${limitNote('VHDX_MAX_LOCATOR_ITEM', VHDX_MAX_LOCATOR_ITEM)})`);
    const buf = new Uint8Array(e.length);
    await file.read(buf, region.offset + e.offset);
    return new DataView(buf.buffer);
  };
  const params = (await read(Item.fileParameters, 'file parameters'))!;
  const blockSize = params.getUint32(0, true);
  const flags = params.getUint32(4, true);
  if (!isPowerOfTwo(blockSize) || blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE) {
    throw new DiskImageError('CORRUPT', `VHDX block size ${blockSize} is not a power of two from 1 MiB to 256 MiB`, { field: 'blockSize', value: blockSize });
  }
  const virtualSize = u64ToNumber((await read(Item.virtualDiskSize, 'virtual disk size'))!.getBigUint64(0, true), 'VHDX virtual disk size');
  const logical = (await read(Item.logicalSectorSize, 'logical sector size'))!.getUint32(0, true);
  const physical = (await read(Item.physicalSectorSize, 'physical sector size'))!.getUint32(0, true);
  if (logical !== 512 && logical !== 4096) throw new DiskImageError('CORRUPT', `VHDX logical sector size ${logical} is not 512 or 4096`, { value: logical });
  if (physical !== 512 && physical !== 4096) throw new DiskImageError('CORRUPT', `VHDX physical sector size ${physical} is not 512 or 4096`, { value: physical });
  if (virtualSize === 0 || virtualSize % logical !== 0 || virtualSize > MAX_VIRTUAL_SIZE) {
    throw new DiskImageError('CORRUPT', `VHDX virtual size ${virtualSize} is not a positive multiple of ${logical} up to 64 TiB`, { value: virtualSize });
  }
  const page83 = await read(Item.page83Data, 'page 83 data');
  const hasParent = (flags & HAS_PARENT) !== 0;
  const locator = hasParent ? await read(Item.parentLocator, 'parent locator') : undefined;
  return {
    blockSize,
    leaveBlocksAllocated: (flags & LEAVE_BLOCKS_ALLOCATED) !== 0,
    hasParent,
    virtualSize,
    diskId: new Uint8Array(page83!.buffer),
    logicalSectorSize: logical,
    physicalSectorSize: physical,
    parentLocator: locator ? decodeParentLocator(new Uint8Array(locator.buffer)) : undefined,
  };
}
