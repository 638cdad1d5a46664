import { HAS_PARENT, Item, KiB64, LEAVE_BLOCKS_ALLOCATED, METADATA_SIGNATURE } from './constants.js';
import { encodeParentLocator } from './parent-locator.js';

/** What a new VHDX's metadata region holds. */
export interface NewMetadata {
  blockSize: number;
  leaveBlocksAllocated: boolean;
  virtualSize: number;
  diskId: Uint8Array;
  logicalSectorSize: number;
  physicalSectorSize: number;
  parentLocator?: [string, string][];
}

/** Metadata entry flags (2.6.1.2). */
const IS_VIRTUAL_DISK = 2;
const IS_REQUIRED = 4;

/** Offset of metadata table entry `i` in the region (2.6.1.2): a 32-byte table header, then 32-byte entries. */
export function metadataEntryOffset(i: number): number {
  return 32 + i * 32;
}

/** Encodes one metadata table entry (32 bytes). */
export function encodeMetadataEntry(itemId: Uint8Array, offset: number, length: number, flags: number): Uint8Array {
  const buf = new Uint8Array(32);
  const view = new DataView(buf.buffer);
  buf.set(itemId, 0);
  view.setUint32(16, offset, true);
  view.setUint32(20, length, true);
  view.setUint32(24, flags, true);
  return buf;
}

/** The metadata region (table at 0, items from 64 KiB) of a new VHDX (2.6). */
export function encodeMetadataRegion(m: NewMetadata, regionLength: number): Uint8Array {
  const u32 = (v: number) => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    return b;
  };
  const u64 = (v: number) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(v), true);
    return b;
  };
  const params = new Uint8Array(8);
  new DataView(params.buffer).setUint32(0, m.blockSize, true);
  new DataView(params.buffer).setUint32(4, (m.leaveBlocksAllocated ? LEAVE_BLOCKS_ALLOCATED : 0) | (m.parentLocator ? HAS_PARENT : 0), true);
  const items: [Uint8Array, Uint8Array, number][] = [
    [Item.fileParameters, params, IS_REQUIRED],
    [Item.virtualDiskSize, u64(m.virtualSize), IS_VIRTUAL_DISK | IS_REQUIRED],
    [Item.page83Data, m.diskId, IS_VIRTUAL_DISK | IS_REQUIRED],
    [Item.logicalSectorSize, u32(m.logicalSectorSize), IS_VIRTUAL_DISK | IS_REQUIRED],
    [Item.physicalSectorSize, u32(m.physicalSectorSize), IS_VIRTUAL_DISK | IS_REQUIRED],
  ];
  if (m.parentLocator) items.push([Item.parentLocator, encodeParentLocator(m.parentLocator), IS_REQUIRED]);
  const region = new Uint8Array(regionLength);
  region.set(Buffer.from(METADATA_SIGNATURE, 'latin1'), 0);
  new DataView(region.buffer).setUint16(10, items.length, true);
  let pos = KiB64;
  items.forEach(([id, data, flags], i) => {
    region.set(encodeMetadataEntry(id, pos, data.length, flags), metadataEntryOffset(i));
    region.set(data, pos);
    pos += Math.ceil(data.length / 4096) * 4096;
  });
  return region;
}
